"""Entry point of the platform: flags in, cnn.py runs the chosen mode.

    python runner.py --net=nn_gender --data_dir=records/utkface_gender     # train (resumes)
    python runner.py --net=nn_gender --data_dir=my_photos                  # prepare faces, train
    python runner.py --net=nn_gender --mode=eval
    python runner.py --net=nn_gender --mode=predict --image=photos/ --output=results.csv
    python runner.py --net=nn_gender --mode=features --image=face.jpg
    python runner.py --net=nn_gender --mode=export
    python runner.py --helpfull                                            # every flag
"""
import os
import sys

import core.quiet  # noqa: F401  (before TensorFlow)

from absl import app, flags  # noqa: E402

import networks  # noqa: E402
from data import faces, prepare  # noqa: E402
from data.sources import LAYOUTS, UTKFACE_LABELS  # noqa: E402

FLAGS = flags.FLAGS
MODES = ['train', 'eval', 'predict', 'features', 'export', 'demo']

# What and where
flags.DEFINE_enum('mode', 'train', MODES, 'What to do.')
flags.DEFINE_string('net', 'nn_gender', f'Network module: one of {", ".join(networks.names())}.')
flags.DEFINE_string('data_dir', None, 'Dataset folder made by data.convert or data.prepare '
                    '(remembered by the training folder), or a folder of labelled photos, '
                    'which is prepared first (faces found, filtered, aligned) into --prepared_dir.')
flags.DEFINE_string('prepared_dir', None, 'Where photos from --data_dir are prepared '
                    '(default records/<name of the photo folder>).')
flags.DEFINE_enum('layout', 'folders', sorted(LAYOUTS), 'How the photos of --data_dir are '
                  'labelled: class folders, UTKFace file names, or a CSV.')
flags.DEFINE_enum('label', 'gender', list(UTKFACE_LABELS), 'UTKFace label scheme.')
flags.DEFINE_string('train_dir', None, 'Checkpoints, summaries and reports '
                    '(default checkpoints/<net>/).')
flags.DEFINE_boolean('fresh', False, 'Start training over; the previous run is moved aside.')
# Network shape (defaults come from the network module)
flags.DEFINE_integer('num_classes', None, 'Number of classes (default: from the dataset).')
flags.DEFINE_string('input_size', None, 'Images are resized to this: 100 or HEIGHTxWIDTH.')
flags.DEFINE_string('crop_size', None, 'The network sees crops of this size: 80 or HxW.')
flags.DEFINE_integer('channels', None, '1 for grayscale, 3 for colour.')
flags.DEFINE_list('net_options', [], 'Extra keyword options of the network, e.g. init=glorot.')
flags.DEFINE_enum('eval_crop', 'center', ['center', 'resize'],
                  'Eval/predict view: the centre crop, or the whole image resized to the crop size.')
# Training recipe
flags.DEFINE_boolean('eval_flip', False, 'Eval/predict/export: average the logits of each '
                     'face and its mirror image (recorded at training, like --eval_crop).')
flags.DEFINE_float('uncertain_below', 0.6, 'predict: a face whose calibrated confidence is '
                   'below this is printed as uncertain.')
flags.DEFINE_integer('smallest_face', faces.SMALLEST_FACE, 'predict/demo: smallest face '
                     'looked for, px (short side). Detection runs on a copy scaled to it: '
                     'lower finds smaller faces, slower.', lower_bound=1)
flags.DEFINE_integer('batch_size', None, 'Images per step.')
flags.DEFINE_enum('optimizer', None, ['adam', 'momentum', 'rmsprop', 'sgd'], 'Optimizer.')
flags.DEFINE_float('learning_rate', None, 'Initial learning rate.')
flags.DEFINE_enum('lr_schedule', 'fixed', ['fixed', 'exponential', 'step', 'cosine'],
                  'Learning-rate schedule.')
flags.DEFINE_float('lr_decay_rate', 0.1, 'exponential/step: factor per --lr_decay_epochs.')
flags.DEFINE_float('lr_decay_epochs', 5.0, 'exponential/step: epochs per decay.')
flags.DEFINE_float('momentum', 0.9, 'Momentum of the momentum and rmsprop optimizers.')
flags.DEFINE_float('keep_prob', None, 'Dropout keep probability in training.')
flags.DEFINE_float('weight_decay', None, 'L2 weight decay.')
flags.DEFINE_float('label_smoothing', 0.0, 'Label smoothing of the cross-entropy.')
flags.DEFINE_integer('epochs', None, 'Epochs to train (ignored when --max_steps is set).')
flags.DEFINE_integer('max_steps', 0, 'Train up to this global step (0 = use --epochs).')
flags.DEFINE_float('max_minutes', 0, 'Time budget: stop (checkpoint, eval) after this many '
                   'minutes of training; a cosine schedule then decays to zero at the budget\'s '
                   'end. 0 = no budget.')
flags.DEFINE_float('brightness', 0.2, 'Augmentation: max brightness change (0-1 scale).')
flags.DEFINE_float('contrast', 0.3, 'Augmentation: contrast factor range 1 +- this.')
flags.DEFINE_boolean('flip', True, 'Augmentation: random horizontal flips.')
flags.DEFINE_integer('seed', None, 'Graph-level random seed.')
# Bookkeeping
flags.DEFINE_integer('log_every', 50, 'Log and write summaries every N steps.')
flags.DEFINE_integer('eval_every', 0, 'Evaluate and checkpoint every N steps (0 = every epoch).')
flags.DEFINE_integer('keep_checkpoints', 3, 'How many recent checkpoints to keep.')
flags.DEFINE_integer('cache_mb', 4096, 'Cache decoded images in memory when they fit in this.')
flags.DEFINE_string('checkpoint', 'best', 'eval/predict/features/export: best, last, or a path.')
# Inputs and outputs of the other modes
flags.DEFINE_string('image', None, 'predict/features: an image file or a folder of images.')
flags.DEFINE_string('output', None, 'predict: CSV file of the results; features: output folder.')
flags.DEFINE_string('annotate', None, 'predict: write copies of the photos with labelled face '
                    'boxes here (and a grid of them all for a folder).')
prepare.define_flags()   # --detect, --margin, --face_size, pose limits: shared with data.prepare
flags.DEFINE_string('export_dir', None, 'export: SavedModel folder (default '
                    '<train_dir>/export/<step>).')
flags.DEFINE_enum('quantize', 'none', ['none', 'int8'], 'export: also write model_int8.tflite, '
                  'the network in int8 for CPUs (its accuracy against fp32 is measured on the '
                  'eval split).')
flags.DEFINE_string('int8_model', None, 'eval/predict/demo: run the network from this int8 '
                    'model (--mode=export --quantize=int8) instead of fp32.')
flags.DEFINE_string('saved_model', None, 'demo: serve this exported SavedModel folder instead '
                    'of the best checkpoint.')
flags.DEFINE_string('host', '127.0.0.1', 'demo: address to listen on (0.0.0.0 = every network '
                    'interface; mind who can reach it).')
flags.DEFINE_integer('port', 7860, 'demo: port to listen on.')
flags.DEFINE_float('max_upload_mb', 10.0, 'demo: uploads larger than this are refused.')
flags.DEFINE_integer('inter_op_threads', 0, 'TensorFlow inter-op threads (0 = automatic).')
flags.DEFINE_integer('intra_op_threads', 0, 'TensorFlow intra-op threads (0 = automatic).')
# Scale out: a TensorFlow 1 ps/worker cluster (or TF_CONFIG), and towers in one process.
flags.DEFINE_list('ps_hosts', None, 'Cluster: parameter servers, host:port,...')
flags.DEFINE_list('worker_hosts', None, 'Cluster: workers, host:port,... (the first is the '
                  'chief: it writes checkpoints and summaries).')
flags.DEFINE_enum('job_name', None, ['ps', 'worker'], 'Cluster: the job of this process.')
flags.DEFINE_integer('task_index', 0, 'Cluster: index of this process within its job.')
flags.DEFINE_boolean('sync_replicas', False, 'Cluster: average every worker\'s gradients '
                     'each step (default: asynchronous updates).')
flags.DEFINE_float('cluster_timeout', 120.0, 'Cluster: seconds to wait for the other hosts.')
flags.DEFINE_integer('num_clones', 1, 'Towers that split each batch and average their '
                     'gradients (one per GPU).', lower_bound=1)
flags.DEFINE_boolean('clone_on_cpu', False, 'Put the --num_clones towers on the CPU.')


def main(argv):
    if len(argv) > 1:
        sys.exit(f'error: unexpected arguments {argv[1:]} (flags take the form --name=value)')
    # No global disable_eager_execution(): every model graph is an explicit tf.Graph run by a
    # Session, and the face detector (MTCNN) runs eagerly beside them.
    import cnn
    from core import checkpoints, config
    from core import cluster as clusters
    values = {name: FLAGS[name].value for name in FLAGS}
    explicit = {name for name in FLAGS if FLAGS[name].present}
    for key in ('face_size', 'margin'):     # unset: as the training faces were stored
        if key not in explicit:
            values[key] = None
    try:
        if FLAGS.mode == 'train' and FLAGS.data_dir and is_photo_folder(FLAGS.data_dir):
            values['data_dir'] = prepare_photos(FLAGS.data_dir)
        cfg = config.resolve(values, explicit)
        if cfg.mode == 'train' and not cfg.data_dir:
            raise config.ConfigError('training needs --data_dir (a folder made by '
                                     'python -m data.convert)')
        if cfg.mode in ('predict', 'features') and not cfg.image:
            raise config.ConfigError(f'--mode={cfg.mode} needs --image=FILE_OR_FOLDER')
        cnn.run(cfg)
    except (config.ConfigError, checkpoints.CheckpointError, clusters.ClusterError,
            FileNotFoundError,
            FileExistsError, FloatingPointError) as e:
        sys.exit(f'error: {e}')


def is_photo_folder(path):
    """True for raw photos (to prepare), False for a dataset made by data.convert/prepare."""
    from data.records import META_FILE
    return FLAGS.layout == 'csv' or (os.path.isdir(path) and
                                     not os.path.isfile(os.path.join(path, META_FILE)))


def prepare_photos(src):
    """Prepares (or reuses the cached preparation of) a folder of photos; returns the dataset."""
    out = FLAGS.prepared_dir or os.path.join('records', os.path.basename(os.path.normpath(src)))
    print(f'Preparing the photos of {src} into {out} (cached: a rerun reuses finished work)')
    prepare.prepare(src, out, prepare.settings_from_flags(), FLAGS.layout, FLAGS.label,
                    near_duplicate_bits=FLAGS.near_duplicate_bits)
    return out


if __name__ == '__main__':
    app.run(main)
