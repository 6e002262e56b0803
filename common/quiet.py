"""Keeps TensorFlow's start-up chatter and tf-slim's deprecation warnings out of our output.

Import this first in an entry point (before TensorFlow); our own lines say what happens.
"""
import logging
import os
import warnings

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
# tf-slim calls the deprecated tf.layers internally; the warnings say nothing to our users.
warnings.filterwarnings('ignore', category=UserWarning, module='tensorflow')
# The Saver's "Restoring parameters" lines repeat what our modes print.
logging.getLogger('tensorflow').setLevel(logging.ERROR)


def _import_tensorflow_quietly():
    """TensorFlow's C++ libraries log "All log messages before absl::InitializeLog()" and the
    oneDNN notice (twice, once per library) while loading, before any log level applies:
    load them with the process's stderr pointed at /dev/null. Python errors still show."""
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_import_tensorflow_quietly()
