"""A module imported when first used, not when named: modules the TensorFlow-free answering
path passes through (core/checkpoints.py) name TensorFlow at their top, as usual, and
load it only in the functions that use it.

    from common.deferred import tensorflow as tf    # nothing loaded yet
    tf.train.list_variables(path)                   # loaded here, once
"""
import importlib


class Deferred:
    def __init__(self, name):
        self._name = name

    def __getattr__(self, attribute):
        return getattr(importlib.import_module(self._name), attribute)


tensorflow = Deferred('tensorflow')
