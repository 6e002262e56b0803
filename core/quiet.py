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
