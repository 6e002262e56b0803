"""The `mtcnn` package's three stages converted to TFLite files, for data/mtcnn_lite.py.

    python -m data.mtcnn_convert --out=lite/          # pnet/rnet/onet.tflite, detector.json

Made once into the user's cache (cached_stages), from which preparation runs them and
tools.release and export copy them (copy_stages); detector.json keeps the checksum of the package weights they came from, so
that an answer never runs stages made from others.
Float32 throughout: the boxes must be the TensorFlow path's.
"""
import json
import os
import shutil
import tempfile

from absl import app, flags

import common.quiet  # noqa: F401  (before TensorFlow)
from data import mtcnn_lite

INFO_FILE = 'detector.json'
# P-Net takes the whole photo at each scale, R-Net and O-Net batches of patches.
INPUTS = {'pnet': (1, None, None, 3), 'rnet': (None, 24, 24, 3), 'onet': (None, 48, 48, 3)}


def convert(out_dir):
    """Writes the three stages and detector.json into out_dir; returns detector.json."""
    import tensorflow as tf
    from mtcnn import MTCNN
    from absl import logging as absl_logging
    from common import quiet
    absl_logging.set_verbosity(absl_logging.WARNING)   # the SavedModel writer's chatter
    os.makedirs(out_dir, exist_ok=True)
    for stage in MTCNN().stages:
        name = mtcnn_lite.STAGES[stage.id - 1]
        with tempfile.TemporaryDirectory() as tmp:
            # Through a SavedModel: a concrete function of a Keras 3 model converts with
            # its weights left out (NaN answers).
            tf.saved_model.save(_Stage(stage.model, INPUTS[name]), tmp)
            converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
            with quiet.native_stderr_hidden():
                blob = converter.convert()
        with open(os.path.join(out_dir, f'{name}.tflite'), 'wb') as f:
            f.write(blob)
    info = {'stages': [f'{name}.tflite' for name in mtcnn_lite.STAGES],
            'mtcnn_weights_sha256': mtcnn_lite.weights_checksum()}
    with open(os.path.join(out_dir, INFO_FILE), 'w') as f:
        json.dump(info, f, indent=1)
    return info


def cached_stages(announce=False):
    """The folder of the three stages converted from the installed package's weights: made
    once (data.mtcnn_convert, which loads TensorFlow) into the user's cache, named by the
    weights' checksum, so that a changed package is converted anew; `announce` says so
    when it converts."""
    base = os.path.join(os.environ.get('XDG_CACHE_HOME') or os.path.expanduser('~/.cache'),
                        'facecnn')
    folder = os.path.join(base, f'mtcnn-{mtcnn_lite.weights_checksum()[:16]}')
    if os.path.isfile(os.path.join(folder, 'detector.json')):
        return folder
    os.makedirs(base, exist_ok=True)
    if announce:
        print(f'Converting the face detector (MTCNN) for LiteRT, once, into {folder} '
              '(about 10 s)', flush=True)
    work = tempfile.mkdtemp(prefix='.mtcnn-', dir=base)
    try:                      # made aside and moved in whole: another process may race us
        convert(work)
        os.rename(work, folder)
    except OSError:
        if not os.path.isfile(os.path.join(folder, 'detector.json')):
            raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return folder


def copy_stages(out_dir):
    """The cached stages (converted once) copied into out_dir; returns their detector.json."""
    folder = cached_stages()
    for name in os.listdir(folder):
        shutil.copyfile(os.path.join(folder, name), os.path.join(out_dir, name))
    with open(os.path.join(folder, INFO_FILE)) as f:
        return json.load(f)


def _Stage(model, shape):
    """A tf.Module calling the stage's Keras model on float32 batches of `shape`, its
    weights tracked as the module's variables."""
    import tensorflow as tf

    class Stage(tf.Module):
        def __init__(self):
            super().__init__()
            self.model = model
            self.weights = [getattr(v, 'value', v) for v in model.weights]

        @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32)])
        def __call__(self, x):
            return self.model(x)

    return Stage()


def main(argv):
    del argv
    info = convert(flags.FLAGS.out)
    print(f'{", ".join(info["stages"])} written to {flags.FLAGS.out}')


if __name__ == '__main__':
    flags.DEFINE_string('out', None, 'The folder to write the three stages into.')
    flags.mark_flag_as_required('out')
    app.run(main)
