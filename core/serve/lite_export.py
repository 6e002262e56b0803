"""The TensorFlow-free answering files of a model: lite/ beside its checkpoint.

    lite/classifier.tflite    the network from its input on: [N, h, w, c] in [-1, 1] ->
                              calibrated logits (mirror-averaged when the model answers so),
                              float32 arithmetic, its weights stored in float16
    lite/pnet|rnet|onet.tflite  the face detector's three stages (data/mtcnn_convert.py)
    lite/lite.json            what the answer needs: classes, sizes, framing, the checkpoint
                              and the detector's source weights

Made by tools.release and --mode=export; read by core/serve/lite_model.py, which answers
with numpy, OpenCV and LiteRT only.
"""
import json
import os
import tempfile

import tensorflow as tf

from common import quiet
from core.serve import quantize
from core.store.lite import CLASSIFIER, FOLDER, INFO_FILE
from data import mtcnn_convert


def convert(cfg, checkpoint_path, temperature):
    """The classifier as TFLite bytes: float32 arithmetic, weights kept in float16 (half the
    size; its answers against float32: docs/measurements.md)."""
    from absl import logging as absl_logging
    absl_logging.set_verbosity(absl_logging.WARNING)   # the converter's SavedModel chatter
    with tempfile.TemporaryDirectory() as tmp:
        saved = os.path.join(tmp, 'network')
        quantize.network_savedmodel(cfg, checkpoint_path, temperature, saved)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
        with quiet.native_stderr_hidden():
            return converter.convert()


def write(cfg, checkpoint_path, temperature, model_dir):
    """Writes model_dir/lite/ for the checkpoint at `checkpoint_path`; returns lite.json."""
    out = os.path.join(model_dir, FOLDER)
    os.makedirs(out, exist_ok=True)
    blob = convert(cfg, checkpoint_path, temperature)
    with open(os.path.join(out, CLASSIFIER), 'wb') as f:
        f.write(blob)
    detector = mtcnn_convert.copy_stages(out)
    info = {'classifier': CLASSIFIER, 'checkpoint': os.path.basename(checkpoint_path),
            'classes': list(cfg.classes), 'net': cfg.net,
            'input_size': list(cfg.input_size), 'crop_size': list(cfg.crop_size),
            'channels': cfg.channels, 'eval_crop': cfg.eval_crop,
            'eval_flip': bool(cfg.eval_flip), 'temperature': float(temperature),
            'face_size': cfg.face_size, 'margin': cfg.margin or 0.0,
            'detector': detector}
    with open(os.path.join(out, INFO_FILE), 'w') as f:
        json.dump(info, f, indent=1)
    return info
