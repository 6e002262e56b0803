"""Keeps TensorFlow's start-up chatter and tf-slim's deprecation warnings out of our output.

Import this first in an entry point (before TensorFlow, which it does not load itself);
our own lines say what happens.
"""
import contextlib
import importlib.abc
import importlib.util
import logging
import os
import sys
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
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_KERAS_EAGER = 'keras.src.optimizers'


class _QuietFirstImport(importlib.abc.MetaPathFinder):
    """TensorFlow's C++ libraries log "All log messages before absl::InitializeLog()" and
    the oneDNN notice (twice, once per library) while loading, before any log level
    applies: its first import, wherever it happens (tf_slim, keras, mtcnn or ours), runs
    with the native stderr hidden. Importing this module does not load TensorFlow: the
    answers that need none (predict on a released model's TFLite files) start in a
    fraction of a second."""

    def find_spec(self, name, path=None, target=None):
        if name != 'tensorflow':
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _HiddenLoader(spec.loader)
        return spec


class _HiddenLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        # TensorFlow imports Keras's optimizers while loading, to register them for Keras's
        # SavedModels: Keras, and IPython through it, are a third of TensorFlow's start-up
        # (docs/measurements.md) and nothing of ours needs them then. Declined for this one
        # import, so that `import keras` later (the Keras peer bench) loads it as usual.
        declined = sys.modules.setdefault(_KERAS_EAGER, None) is None
        try:
            with native_stderr_hidden():
                self.loader.exec_module(module)
        finally:
            if declined and sys.modules.get(_KERAS_EAGER, 0) is None:
                del sys.modules[_KERAS_EAGER]


if 'tensorflow' not in sys.modules and not any(
        isinstance(finder, _QuietFirstImport) for finder in sys.meta_path):
    sys.meta_path.insert(0, _QuietFirstImport())
