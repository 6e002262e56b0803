"""Run records: `run.json` in a training folder holds the run's whole resolved configuration,
so a run can be told apart from another and repeated from its folder alone; eval, predict,
export and fine-tuning read back what the model needs.

A released model's record keeps its graph and how it answers (GRAPH + ANSWERS), no paths.
"""
import json
import os

from common import jsonfile
from core.checkpoints import BEST_DIR

FILE = 'run.json'
# What the checkpoint's graph depends on: a run that differs in one of these cannot load it.
GRAPH = ('net', 'num_classes', 'input_size', 'crop_size', 'channels', 'net_options')
# The graph a base is fine-tuned from, adopted unless a flag says otherwise (the classes
# may differ).
BASE_GRAPH = tuple(key for key in GRAPH if key != 'num_classes')
# What must match it: another net keeps the variables the two share (finetune.Base).
BASE_FIXED = tuple(key for key in BASE_GRAPH if key != 'net')
# How the model answers, besides its graph: taken from the record unless a flag says it.
ANSWERS = ('classes', 'eval_crop', 'eval_flip', 'face_size', 'margin', 'moving_average_decay')
# How a base looks at a face: a model fine-tuned from it looks the same way (its classes and
# face geometry are its own data's).
BASE_VIEW = ('eval_crop', 'eval_flip')


def read(folder):
    """The record of a training folder (or a released model), None when it has none."""
    path = os.path.join(folder, FILE)
    return jsonfile.read(path, required=('net', 'classes')) if os.path.isfile(path) else None


def of_checkpoint(path):
    """The record of a training folder, or of the one holding a checkpoint path
    (train_dir/model.ckpt-N or train_dir/best/model.ckpt-N); None if there is none."""
    folder = path if os.path.isdir(path) else os.path.dirname(path)
    if os.path.basename(os.path.normpath(folder)) == BEST_DIR:
        folder = os.path.dirname(os.path.normpath(folder))
    return read(folder) if os.path.isdir(folder) else None


def write(train_dir, record):
    os.makedirs(train_dir, exist_ok=True)
    path = os.path.join(train_dir, FILE)
    with open(f'{path}.tmp', 'w') as f:
        json.dump(record, f, indent=1)
    os.replace(f'{path}.tmp', path)


def released_record(record, checkpoint_name):
    """What a released model keeps of a training's record: no paths of this machine, and
    the weights already averaged."""
    kept = {key: record.get(key) for key in GRAPH + ANSWERS}
    kept.update(data_dir=None, moving_average_decay=None, released_from=checkpoint_name,
                trained_precision=record.get('precision'))
    return kept
