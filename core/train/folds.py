"""Judging a fine-tuning on every face when a user's eval split is too small to tell.

k folds over all the faces (the folds are hashes of the file names, the same in every
run): fold i's faces are answered by a model fine-tuned on the others, at each share of
the base's weights in SHARES (WiSE-FT; share 1 is the base itself). The share that
answers the most faces right is kept when it beats the base by more than chance: on the
faces the two answer differently, fine-tuning must be right so much more often that a
coin would do it less than once in 20 (a one-sided sign test, McNemar's exact test).
Otherwise the base is kept: on a hundred faces, one face more is noise, and a user must
never end with a model worse than the one they started from. The out-of-fold answers are
the model's honest report and what its calibration is fitted on.
"""
import contextlib
import dataclasses
import math
import os

import numpy as np
import tensorflow as tf

from common.progress import format_duration
from core import config, model
from data import pipeline

v1 = tf.compat.v1
FOLDS_DIR = 'folds'
SHARES = (0.0, 0.25, 0.5, 0.75, 1.0)     # the base's share of the weights; 1 = the base
BEAT_CHANCE = 0.05       # the largest chance that fine-tuning's gain over the base is luck
FILE = 'folds.json'       # the judgement's figures, beside the run


def wanted(cfg, meta, cluster):
    """Fine-tuning from a base, alone, with fewer eval faces than a comparison needs."""
    n_eval = meta['splits'].get('eval', {}).get('count', 0)
    return bool(cfg.init_from and cfg.folds and cluster is None
                and n_eval < config.FOLDS_BELOW)


def splits(meta):
    return tuple(name for name in ('train', 'eval') if name in meta['splits'])


def fold_config(cfg, meta, index):
    """The run that trains on every fold but `index`, in train_dir/folds/<index + 1>."""
    return dataclasses.replace(cfg, train_dir=os.path.join(cfg.train_dir, FOLDS_DIR,
                                                           str(index + 1)),
                               fold=(index, cfg.folds), train_splits=splits(meta),
                               base_share=0.0, fresh=False)


@contextlib.contextmanager
def logged(train_dir):
    """A fold's training lines go to its train.log, not the terminal."""
    os.makedirs(train_dir, exist_ok=True)
    with open(os.path.join(train_dir, 'train.log'), 'a') as log, \
            contextlib.redirect_stdout(log):
        yield


@dataclasses.dataclass(frozen=True)
class HeldOut:
    """A fold run's held-out faces and the eval graph that answers them, built in the fold's
    training graph: answered in its session, no second graph, session or restore."""
    iterator: object
    fetches: dict
    use_averages: object     # sets each weight to its moving average (a no-op without one)


def held_out(cfg, meta, ema):
    """HeldOut of fold cfg.fold's faces (of every split); build it in the training graph."""
    with model.on_cpu():
        ds = pipeline.make_dataset(cfg.data_dir, cfg.train_splits, cfg.image_spec,
                                   cfg.batch_size, False, cache_mb=cfg.cache_mb, meta=meta,
                                   fold=(*cfg.fold, True))
        iterator = v1.data.make_initializable_iterator(ds)
    fetches = model.eval_fetches(iterator.get_next(), cfg)
    averaged = [(var, ema.average(var)) for var in v1.global_variables()] if ema else []
    use_averages = tf.group([var.assign(average) for var, average in averaged
                             if average is not None])
    return HeldOut(iterator, fetches, use_averages)


def answers(held, sess, base):
    """({share: eval outputs of the held-out faces}, whether the base answers every class):
    the session's weights (their moving averages when the run keeps them, as its checkpoint
    is read after training) mixed with the base at each share. Call it last in the session:
    the weights are left at the base's share 1."""
    sess.run(held.use_averages)
    weights = base.read(sess)
    out = {}
    for share in SHARES:
        base.load_mix(sess, weights, share)
        out[share] = pipeline.concatenate(pipeline.run_split(sess, held.iterator, held.fetches))
    return out, base.whole


def right(out):
    return out['label'] == out['prediction']


def fold_line(index, folds, answers, base_whole, seconds):
    """The line of fold `index`, done `seconds` after the first began; its ETA counts the
    folds left and the training on all the faces at the mean fold's time (a fold's steps go
    to its log, so this line is the terminal's only news of the time left)."""
    out = answers[0.0]
    eta = seconds / (index + 1) * (folds - index)
    return (f'fold {index + 1}/{folds}: {len(out["label"])} faces answered by a model '
            f'fine-tuned on the others: {right(out).mean() * 100:.1f}%'
            + (f' (the base {right(answers[1.0]).mean() * 100:.1f}%)' if base_whole else '')
            + f'; ETA {format_duration(eta)}')


def sign_test(wins, losses):
    """The chance of `wins` or more of the wins + losses faces that two models answer
    differently going one model's way, if neither were better."""
    n = wins + losses
    return sum(math.comb(n, k) for k in range(wins, n + 1)) / 2 ** n if n else 1.0


@dataclasses.dataclass(frozen=True)
class Judgement:
    """What the folds decided."""
    share: float             # --base_share the final training takes
    outputs: dict            # the out-of-fold answers of that share, for the report
    lines: list              # why, to print
    figures: dict            # the same in numbers, kept beside the run (FILE)


def judge(per_fold, base_whole):
    """The share kept, its out-of-fold outputs and the lines that say why."""
    joined = {share: pipeline.concatenate([answers[share] for answers in per_fold])
              for share in SHARES}
    accuracy = {share: float(right(out).mean()) for share, out in joined.items()}
    tuned = max((s for s in SHARES if s < 1.0), key=lambda s: (accuracy[s], s))
    n = len(joined[tuned]['label'])
    only_tuned = int(np.sum(right(joined[tuned]) & ~right(joined[1.0])))
    only_base = int(np.sum(right(joined[1.0]) & ~right(joined[tuned])))
    shown = SHARES if base_whole else SHARES[:-1]   # a base of other classes cannot answer
    lines = [f'judged by {len(per_fold)} folds: each of the {n} faces answered by a model that '
             'did not train on it',
             (f'  the base {accuracy[1.0] * 100:.2f}%, ' if base_whole else '  ')
             + f'fine-tuned {accuracy[tuned] * 100:.2f}% (--base_share={tuned:g})'
             + (f'; right only when fine-tuned: {only_tuned}, only by the base: {only_base}'
                if base_whole else ''),
             '  by the base\'s share of the weights: ' + ', '.join(
                 f'{s:g} {accuracy[s] * 100:.1f}%' for s in shown)]
    keep, chance = tuned, sign_test(only_tuned, only_base)
    if base_whole and chance >= BEAT_CHANCE:
        keep = 1.0
        lines.append('fine-tuning did not beat the base on the folds: the base\'s weights are '
                     f'kept (the model left is the base); {only_tuned} right only when '
                     f'fine-tuned against {only_base} only by the base is within chance '
                     f'(p = {chance:.2f}, not below {BEAT_CHANCE:g})')
    else:
        lines.append(f'kept: the fine-tuned weights with --base_share={tuned:g}, the best on '
                     'the folds' + (f' (better than the base beyond chance: p = {chance:.3f})'
                                    if base_whole else '') + '; training it on all the faces')
    figures = {'folds': len(per_fold), 'faces': n, 'kept_share': keep, 'tuned_share': tuned,
               'accuracy_by_share': {str(s): accuracy[s] for s in shown},
               'right_only_tuned': only_tuned, 'right_only_base': only_base,
               'p': chance if base_whole else None}
    return Judgement(share=keep, outputs=joined[keep], lines=lines, figures=figures)
