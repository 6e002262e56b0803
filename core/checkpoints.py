"""Where checkpoints live and how they are chosen and checked.

train_dir/model.ckpt-N      the last few checkpoints (resume from the newest)
train_dir/best/model.ckpt-N the best by eval accuracy, with best/best.json
"""
import datetime
import os
import shutil

from common import jsonfile
from common.deferred import tensorflow as tf

BEST_DIR = 'best'
BEST_FILE = 'best.json'
CHECKPOINT_NAME = 'model.ckpt'      # saved as model.ckpt-<step>


class CheckpointError(ValueError):
    """No usable checkpoint; str(e) says what to do."""


class WriteFailed(OSError):
    """A checkpoint could not be written (no space, a read-only folder, a quota)."""


def save(saver, sess, prefix, step):
    """saver.save, with a failed write said in one sentence naming the path, the cause and
    the last checkpoint written, which is kept (looked up only then)."""
    try:
        return saver.save(sess, prefix, global_step=step)
    except (tf.errors.OpError, OSError) as e:
        # TensorFlow's message ends with '<file>; File too large' and a node line: the cause
        # is the last line's tail.
        lines = [line.strip() for line in (getattr(e, 'message', None) or str(e)).splitlines()
                 if line.strip() and not line.strip().startswith(('[[', 'Hint:'))]
        cause = lines[-1].rsplit('; ', 1)[-1] if lines else type(e).__name__
        kept = latest(os.path.dirname(prefix))
        raise WriteFailed(f'could not write the checkpoint {prefix}-{step}: {cause}; '
                          + (f'the last good one, {kept}, is kept and loads' if kept
                             else 'no checkpoint was written yet')) from None


def latest(train_dir):
    """The newest checkpoint in `train_dir` itself. The `checkpoint` state file of a folder
    written before paths were stored relative names an absolute path, perhaps of the folder
    it was copied from: only its file name is read, inside this folder. Without a state
    file, the highest-numbered model.ckpt-N there."""
    if not os.path.isdir(train_dir):
        return None
    state_file = os.path.join(train_dir, 'checkpoint')
    if not os.path.exists(state_file):
        return _newest_by_step(train_dir)
    try:
        state = tf.train.get_checkpoint_state(train_dir)
        reason = '' if state and state.model_checkpoint_path else 'it names no checkpoint'
    except Exception as e:          # protobuf's text parser: any garbage in the file
        reason = _reason(e)
    if reason:
        raise CheckpointError(f'{state_file} cannot be read ({reason}): it is not a checkpoint '
                              'list; delete it, and the newest model.ckpt-N of the folder is '
                              'used')
    path = os.path.join(train_dir, os.path.basename(state.model_checkpoint_path))
    if tf.io.gfile.exists(path + '.index'):
        return path
    newest = _newest_by_step(train_dir)
    if newest is None:          # a folder that names weights it does not hold is not "empty"
        raise CheckpointError(f'{state_file} names {state.model_checkpoint_path}, which is not '
                              f'in {train_dir} (moved or deleted?), and the folder holds no '
                              'other checkpoint: give the folder that holds the weights')
    return newest


def step_of(path):
    """The training step of checkpoint model.ckpt-N (0 for a name without one)."""
    tail = os.path.basename(path).rsplit('-', 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _newest_by_step(train_dir):
    steps = [int(n[len(CHECKPOINT_NAME) + 1:-len('.index')]) for n in os.listdir(train_dir)
             if n.startswith(CHECKPOINT_NAME + '-') and n.endswith('.index')
             and n[len(CHECKPOINT_NAME) + 1:-len('.index')].isdigit()]
    return os.path.join(train_dir, f'{CHECKPOINT_NAME}-{max(steps)}') if steps else None


def _reason(error):
    """What an error says of its cause: 'Read less bytes than requested', say. A session's
    error opens with 'Graph execution error:' and the node's traceback; the cause is the
    last unindented line that is not part of them."""
    text = getattr(error, 'message', None) or str(error)
    said = [line.strip() for line in text.splitlines() if line.strip() and not line[0].isspace()
            and not line.startswith(('Graph execution error', 'Detected at', 'Node:'))]
    return said[-1][:200] if said else type(error).__name__


def damaged(path, error):
    return CheckpointError(f'the weights {path} cannot be read ({_reason(error)}): the files '
                           'are damaged or incomplete')


def verify(path):
    """Reads every tensor of checkpoint `path`: CheckpointError when one cannot be read."""
    try:
        reader = tf.train.load_checkpoint(path)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except (tf.errors.OpError, ValueError, IndexError) as e:
        raise damaged(path, e) from None


def best_record(train_dir):
    path = os.path.join(train_dir, BEST_DIR, BEST_FILE)
    if os.path.isfile(path):
        return jsonfile.read(path)
    return None


def choose(train_dir, which='best'):
    """The checkpoint for eval/predict: 'best' (falling back to the last), 'last', or a path."""
    if which not in ('best', 'last'):
        if not tf.io.gfile.exists(which + '.index'):
            raise CheckpointError(f'--checkpoint={which} is not a checkpoint (no '
                                  f'{os.path.basename(which)}.index beside it)'
                                  if os.path.exists(which) else
                                  f'--checkpoint={which} does not exist')
        return which
    path = None
    if which == 'best':
        path = latest(os.path.join(train_dir, BEST_DIR))
    path = path or latest(train_dir)
    if not path:
        raise CheckpointError(f'no checkpoint in {train_dir}: train first '
                              f'(python runner.py --net=... --data_dir=...)')
    return path


AVERAGE_SUFFIX = '/ExponentialMovingAverage'    # tf.train.ExponentialMovingAverage's shadows


def restore(sess, train_dir, which='best', averaged=False):
    """Restores the chosen checkpoint into `sess`'s graph after checking that it fits;
    returns its path. `averaged`: each variable takes its moving average's value where
    the checkpoint holds one (--moving_average_decay). Call it inside that graph's context."""
    path = choose(train_dir, which)
    variables = sess.graph.get_collection(tf.compat.v1.GraphKeys.GLOBAL_VARIABLES)
    try:
        stored = dict(tf.train.list_variables(path))
        names = {}
        for var in variables:
            name = var.op.name
            names[name + AVERAGE_SUFFIX if averaged and name + AVERAGE_SUFFIX in stored
                  else name] = var
        check_compatible(path, variables, names)
        tf.compat.v1.train.Saver(names).restore(sess, path)
    except (tf.errors.OpError, IndexError) as e:
        raise damaged(path, e) from None
    return path


def check_compatible(path, variables, names=None):
    """Stops with a clear message when the checkpoint's variables do not fit the graph
    (`names`: {name in the checkpoint: variable}, by default the variables' own names)."""
    stored = dict(tf.train.list_variables(path))
    problems = []
    names = names or {var.op.name: var for var in variables}
    for name, var in names.items():
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


def start_fresh(train_dir):
    """--fresh: the old run is moved aside, never deleted. True when something was moved
    (the folder is then new, and its lock must be taken again)."""
    if os.path.isdir(train_dir) and set(os.listdir(train_dir)) - {'.lock'}:
        stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S')
        aside = f'{train_dir.rstrip(os.sep)}.old-{stamp}'
        os.rename(train_dir, aside)
        print(f'--fresh: moved the previous run to {aside}')
        return True
    return False


def clear_leftovers(train_dir):
    """What a killed run can leave behind: the half-written files of a checkpoint save
    (`*_temp*` or `*tempstate*`, tens of MB each) and checkpoints that the `checkpoint`
    index no longer lists (the Saver forgot them when the process died). Returns what
    was removed."""
    removed = []
    for folder in (train_dir, os.path.join(train_dir, BEST_DIR)):
        if not os.path.isdir(folder):
            continue
        names = os.listdir(folder)
        stale = [n for n in names if n.startswith(CHECKPOINT_NAME) and
                 ('tempstate' in n or '_temp' in n)]
        state = tf.train.get_checkpoint_state(folder)
        if state is not None:
            listed = {os.path.basename(p) for p in state.all_model_checkpoint_paths}
            listed.add(os.path.basename(state.model_checkpoint_path))
            stale += [n for n in names if n.startswith(CHECKPOINT_NAME + '-') and n not in stale and
                      n.split('.data-')[0].split('.index')[0].split('.meta')[0] not in listed]
        for name in stale:
            path = os.path.join(folder, name)
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            elif os.path.exists(path):
                os.remove(path)
            removed.append(path)
    if removed:
        print(f'removed {len(removed)} leftover file(s) of an interrupted run in {train_dir}')
    return removed
