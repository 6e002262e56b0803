"""Release a trained model into the repository: models/<name>/ with the weights alone.

    python -m tools.release --train_dir=checkpoints/base --name=my_base

Writes run.json (the graph settings, classes and face framing; no paths of this
machine), model.ckpt (the network's variables only, no optimizer slots; the moving
averages in the variables' own names when the run kept them), the `checkpoint` file,
the calibration of the checkpoint released, and lite/: the classifier and the face
detector as TFLite files, so that predict and the demo answer without TensorFlow
(core/serve/lite_export.py).

    python -m tools.release --add_lite=my_model    # lite/ for a release made before it

A model answers as its training evaluated it (one view of each face); `--eval_flip`
releases it answering each face with its mirror image averaged, once an eval with
`--eval_flip` has fitted that view's calibration on the training's own held-out split.
`--balance_errors` moves the classifier's bias of a two-class model to the threshold that
eval found makes both classes' error rates equal on that split (calibration.fit_balance):
the release answers there in every form, lite/ included.

MODEL_CARD.md is written by hand: a release says what the model is for and how it was
measured. Every model committed stays in git's history: release deliberately, replace
rarely.
"""
import json
import os
import re
import shutil
import sys
import tempfile

from absl import app, flags

import common.quiet  # noqa: F401  (before TensorFlow)

FLAGS = flags.FLAGS
# What a run.json keeps in a release (data_dir is a path of the machine that trained it).
# A name is a folder of models/ that --init_from finds: no path, nothing hidden.
NAME = re.compile(r'[A-Za-z0-9][A-Za-z0-9_.-]*')
# A release is made in models/.NAME-xxxxxxxx (tempfile's suffix) by the process in MAKER.
LEFTOVER = re.compile(r'\.[A-Za-z0-9][A-Za-z0-9_.-]*-[a-z0-9_]{8}')
MAKER = '.release_pid'
MAX_MB = 20.0              # a released model's folder, lite/ included (--max_mb)


# The classifier's bias, the one variable --balance_errors moves (every classifier of
# networks/ ends in slim's fully_connected scoped 'logits', under core.model's 'net').
LOGITS_BIAS = 'net/logits/biases:0'


def write_weights(cfg, path, out, shift=0.0):
    """The network's variables at checkpoint `path` (averaged when the run averaged), saved
    under their own names in `out`/model.ckpt, the second class's bias raised by `shift`;
    returns its size in bytes."""
    import tensorflow as tf
    from core import model
    v1 = tf.compat.v1

    def build():
        model.inference_logits(v1.placeholder(tf.float32, [None, *cfg.crop_size, cfg.channels]),
                               cfg)
        biases = [v for v in v1.global_variables() if v.name == LOGITS_BIAS]
        if shift and not biases:
            raise ValueError(f'--balance_errors: {cfg.net} has no classifier bias '
                             f'({LOGITS_BIAS}) to move')
        move = biases[0].assign_add([0.0, shift]) if shift else None
        return v1.train.Saver(v1.global_variables(), save_relative_paths=True), move

    with model.restored(cfg, build, path) as run, run.graph.as_default():
        saver, move = run.built
        if move is not None:
            run.session.run(move)
        saver.save(run.session, os.path.join(out, 'model.ckpt'), write_meta_graph=False)
    return sum(os.path.getsize(os.path.join(out, n)) for n in os.listdir(out)
               if n.startswith('model.ckpt.'))


def write_settings(train_dir, path, out, eval_flip=None, shift=0.0):
    """run.json without this machine's paths (answering with the mirror image when
    `eval_flip`, as trained when None), and the calibration of checkpoint `path` (saying
    by how much the weights' second-class bias was raised)."""
    from core.evaluate import calibration
    from core.store import runs
    run = runs.released_record(runs.read(train_dir), os.path.basename(path))
    if eval_flip is not None:
        run['eval_flip'] = eval_flip
    with open(os.path.join(out, 'run.json'), 'w') as f:
        json.dump(run, f, indent=1)
    for flip in (False, True):
        fitted = calibration.record_for(path, flip)
        if fitted:
            fitted['checkpoint'] = 'model.ckpt'
            fitted['bias_shift'] = shift
            with open(calibration.path_for(os.path.join(out, 'model.ckpt'), flip), 'w') as f:
                json.dump(fitted, f, indent=1)


def write_lite(model_dir):
    """lite/ of the release in model_dir, from its own weights and calibration."""
    from core import checkpoints, config
    from core.evaluate import calibration
    from core.serve import lite_export
    cfg = config.resolve({'mode': 'eval', 'train_dir': model_dir, 'backend': 'tf'},
                         {'train_dir', 'backend'})
    path = checkpoints.choose(model_dir, 'best')
    return lite_export.write(cfg, path, calibration.temperature_for(path, cfg.eval_flip),
                             model_dir)


def check_size(model_dir, max_mb=MAX_MB):
    """A released model's folder holds at most max_mb: every commit of it stays in git."""
    size = sum(os.path.getsize(os.path.join(root, n))
               for root, _, names in os.walk(model_dir) for n in names)
    if size > max_mb * 2**20:
        raise ValueError(f'the release takes {size / 2**20:.1f} MB, over --max_mb={max_mb:g}')
    return size


def add_lite(name):
    """lite/ added to a release made before it existed (made aside, moved in whole; a
    release's other files are not touched)."""
    from core.store import lite, released
    out = released.folder(name)
    if name not in released.names():
        raise FileNotFoundError(f'--add_lite={name}: no released model of that name in '
                                f'{released.MODELS_DIR}')
    if os.path.exists(os.path.join(out, lite.FOLDER)):
        raise FileExistsError(f'{out} has {lite.FOLDER}/ already: it is never written over')
    clear_leftovers(os.path.dirname(out))
    work = tempfile.mkdtemp(prefix=f'.{name}-lite-', dir=os.path.dirname(out))
    try:
        with open(os.path.join(work, MAKER), 'w') as f:
            f.write(str(os.getpid()))
        for entry in os.listdir(out):            # the release as it is, to convert from
            os.symlink(os.path.join(out, entry), os.path.join(work, entry))
        write_lite(work)
        os.rename(os.path.join(work, lite.FOLDER), os.path.join(out, lite.FOLDER))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    size = check_size(out)
    print(f'{os.path.join(out, lite.FOLDER)} written: the release now takes '
          f'{size / 2**20:.1f} MB; say so in {os.path.join(out, released.CARD)}')


def check(train_dir, name):
    """One line for a name that is not a plain folder name, or a run still training."""
    from core.run import lock
    if not NAME.fullmatch(name):
        raise ValueError(f'--name={name}: a released model is named by letters, digits, '
                         '"_", "." and "-", starting with a letter or digit (it becomes '
                         'the folder models/<name>/)')
    if not os.path.isdir(train_dir):
        raise FileNotFoundError(f'--train_dir={train_dir} is not a training folder')
    pid = lock.holder(train_dir)
    if pid:
        raise ValueError(f'{train_dir} is still training (process {pid}): release it when '
                         'the training has ended')


def clear_leftovers(models_dir):
    """Removes the half releases a killed release left in models/ (.NAME-xxxxxxxx, the
    size of the weights each), unless the process that makes one still runs."""
    for entry in sorted(os.listdir(models_dir)):
        work = os.path.join(models_dir, entry)
        if not (LEFTOVER.fullmatch(entry) and os.path.isdir(work)):
            continue
        try:
            with open(os.path.join(work, MAKER)) as f:
                os.kill(int(f.read()), 0)
            continue                       # its release is still running
        except (OSError, ValueError):
            shutil.rmtree(work, ignore_errors=True)
            print(f'removed {work}: a release killed before it finished left it')


def check_calibrated(path, eval_flip):
    """A release answering with the mirror image needs that view's calibration."""
    from core.evaluate import calibration
    if eval_flip and not calibration.record_for(path, True):
        raise ValueError(f'--eval_flip: {path} has no calibration with the mirror image '
                         f'({os.path.basename(calibration.path_for(path, True))}): run '
                         '`python runner.py --mode=eval --train_dir=TRAIN_DIR --eval_flip` '
                         'first')


def balance_shift(path, flip):
    """The raise of the second class's raw logit that --balance_errors applies: the
    balanced threshold eval fitted for the released view."""
    from core.evaluate import calibration
    record = calibration.record_for(path, flip)
    if not record or 'balance' not in record:
        raise ValueError(f'--balance_errors: {path} has no balanced threshold in '
                         f'{os.path.basename(calibration.path_for(path, flip))} (an eval of a '
                         'two-class model on its held-out split fits it): run `python '
                         'runner.py --mode=eval --train_dir=TRAIN_DIR'
                         + (' --eval_flip' if flip else '') + '` first')
    return calibration.balance_shift(record)


def release(train_dir, name, which='best', max_mb=MAX_MB, eval_flip=None, balance=False):
    from core import checkpoints, config
    from core.store import released
    check(train_dir, name)
    os.makedirs(released.MODELS_DIR, exist_ok=True)
    cfg = config.resolve({'mode': 'eval', 'train_dir': train_dir, 'backend': 'tf'},
                         {'train_dir', 'backend'})
    path = checkpoints.choose(train_dir, which)
    check_calibrated(path, eval_flip)
    shift = balance_shift(path, cfg.eval_flip if eval_flip is None else eval_flip) \
        if balance else 0.0
    out = released.folder(name)
    if os.path.exists(os.path.join(out, 'run.json')):
        raise FileExistsError(f'{out} holds a released model already: a release is never '
                              'overwritten (choose another --name)')
    clear_leftovers(os.path.dirname(out))
    work = tempfile.mkdtemp(prefix=f'.{name}-', dir=os.path.dirname(out))
    try:                     # made aside, moved into place whole: no half release in models/
        with open(os.path.join(work, MAKER), 'w') as f:
            f.write(str(os.getpid()))
        weights = write_weights(cfg, path, work, shift)
        write_settings(train_dir, path, work, eval_flip, shift)
        write_lite(work)
        size = check_size(work, max_mb)
        os.remove(os.path.join(work, MAKER))
        os.chmod(work, 0o755)            # mkdtemp's folder is the owner's alone
        os.rename(work, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f'released {path} as {out}: weights {weights / 2**20:.2f} MB, with lite/ '
          f'{size / 2**20:.2f} MB' + (f', answering at the balanced threshold (the '
                                      f'{cfg.classes[1]} logit {shift:+.3f})' if shift else '')
          + f'; write {os.path.join(out, released.CARD)} before committing')
    return out


def main(argv):
    del argv
    if FLAGS.add_lite:
        try:
            add_lite(FLAGS.add_lite)
        except (ValueError, OSError) as e:
            sys.exit(f'error: {e}')
        return
    if not FLAGS.train_dir or not FLAGS.name:
        sys.exit('usage: python -m tools.release --train_dir=TRAINED_RUN --name=NAME')
    try:
        release(FLAGS.train_dir, FLAGS.name, FLAGS.checkpoint, FLAGS.max_mb, FLAGS.eval_flip,
                FLAGS.balance_errors)
    except (ValueError, OSError) as e:     # OSError: a read-only models/, a full disk
        sys.exit(f'error: {e}')


def define_flags():
    """Defined when run, not when imported: a test or a script that imports check() or
    release() keeps its own --train_dir."""
    flags.DEFINE_string('train_dir', None, 'The trained run to release.')
    flags.DEFINE_string('name', None, 'Name of the released model (its folder in models/).')
    flags.DEFINE_string('checkpoint', 'best', 'Which checkpoint: best, last, or a path.')
    flags.DEFINE_float('max_mb', MAX_MB, 'Refuse a release (its folder, lite/ included) '
                       'larger than this.')
    flags.DEFINE_boolean('eval_flip', None, 'Release it answering each face with its mirror '
                         'image averaged (--noeval_flip: one view); default: as its training '
                         'evaluated.')
    flags.DEFINE_boolean('balance_errors', False, 'Release a two-class model answering at the '
                         'threshold where both classes are wrong equally often on its '
                         'held-out split (fitted by eval; the classifier bias moves).')
    flags.DEFINE_string('add_lite', None, 'Add lite/ (the TFLite files) to this released '
                        'model, made before releases carried them.')


if __name__ == '__main__':
    define_flags()
    app.run(main)
