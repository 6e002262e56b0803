"""Where checkpoints live and how they are chosen and checked.

train_dir/model.ckpt-N      the last few checkpoints (resume from the newest)
train_dir/best/model.ckpt-N the best by eval accuracy, with best/best.json
"""
import json
import os

import tensorflow as tf

BEST_DIR = 'best'
BEST_FILE = 'best.json'


class CheckpointError(ValueError):
    """No usable checkpoint; str(e) says what to do."""


def latest(train_dir):
    return tf.train.latest_checkpoint(train_dir) if os.path.isdir(train_dir) else None


def best_record(train_dir):
    path = os.path.join(train_dir, BEST_DIR, BEST_FILE)
    if os.path.isfile(path):
        with open(path) as f:
            return json.load(f)
    return None


def choose(train_dir, which='best'):
    """The checkpoint for eval/predict: 'best' (falling back to the last), 'last', or a path."""
    if which not in ('best', 'last'):
        if not tf.io.gfile.exists(which + '.index'):
            raise CheckpointError(f'--checkpoint={which} does not exist')
        return which
    path = None
    if which == 'best':
        path = latest(os.path.join(train_dir, BEST_DIR))
    path = path or latest(train_dir)
    if not path:
        raise CheckpointError(f'no checkpoint in {train_dir}: train first '
                              f'(python runner.py --net=... --data_dir=...)')
    return path


def restore(sess, train_dir, which='best'):
    """Restores the chosen checkpoint into `sess`'s graph after checking that it fits;
    returns its path. Call it inside that graph's context."""
    path = choose(train_dir, which)
    variables = sess.graph.get_collection(tf.compat.v1.GraphKeys.GLOBAL_VARIABLES)
    check_compatible(path, variables)
    tf.compat.v1.train.Saver(variables).restore(sess, path)
    return path


def check_compatible(path, variables):
    """Stops with a clear message when the checkpoint's variables do not fit the graph."""
    stored = dict(tf.train.list_variables(path))
    problems = []
    for var in variables:
        name = var.op.name
        shape = var.shape.as_list()
        if name not in stored:
            problems.append(f'{name} is missing')
        elif list(stored[name]) != shape:
            problems.append(f'{name} has shape {list(stored[name])}, the graph wants {shape}')
    if problems:
        raise CheckpointError(
            f'checkpoint {path} does not fit this network and these flags '
            f'(another --net, --num_classes, size or --optimizer?): {problems[0]}'
            + (f' (and {len(problems) - 1} more)' if len(problems) > 1 else ''))
