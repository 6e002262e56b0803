"""Keeps TensorFlow's start-up chatter and tf-slim's deprecation warnings out of our output.

Import this first in an entry point (before TensorFlow); our own lines say what happens.
"""
import contextlib
import logging
import os
import warnings

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
# tf-slim calls the deprecated tf.layers internally; the warnings say nothing to our users.
warnings.filterwarnings('ignore', category=UserWarning, module='tensorflow')
# The Saver's "Restoring parameters" lines repeat what our modes print.
logging.getLogger('tensorflow').setLevel(logging.ERROR)


@contextlib.contextmanager
def native_stderr_hidden():
    """The process's stderr (file descriptor 2) pointed at /dev/null inside the block: C++
    libraries log there past any Python setting (TensorFlow while loading, the TFLite
    converter's 'fully_quantize: 0, ...', LiteRT's 'Created TensorFlow Lite XNNPACK
    delegate'). Python exceptions still propagate and are shown."""
    import sys
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


# TensorFlow's C++ libraries log "All log messages before absl::InitializeLog()" and the
# oneDNN notice (twice, once per library) while loading, before any log level applies.
with native_stderr_hidden():
    import tensorflow  # noqa: F401,E402
