"""Auxiliary heads (multi-task learning): on the features the classifier layer sees, small
heads that also predict attributes the records carry (UTKFace: age and race). Their
losses are added to the main loss with --aux_weight; only the main task is evaluated.
A net that must also tell age has to learn what makes a child's face.

    python runner.py --net=cnn60 --data_dir=records/utkface_gender --aux_tasks=age,race
"""
import dataclasses

import tensorflow as tf
import tf_slim as slim

from core.config import ConfigError
from data.sources import RACES

v1 = tf.compat.v1


@dataclasses.dataclass(frozen=True)
class Task:
    attribute: str        # the records' attr/<name>
    classes: int

    def labels(self, values):
        return tf.clip_by_value(values, 0, self.classes - 1)


class _AgeDecades(Task):
    def labels(self, values):          # 0-9, 10-19, ..., 70+
        return tf.clip_by_value(values // 10, 0, self.classes - 1)


# Race: UTKFace's five and FairFace's four more (data.sources.RACES).
TASKS = {'age': _AgeDecades('age', 8), 'race': Task('race', len(RACES))}


def check(cfg, meta):
    """One line when a head is asked for that the records (and --mix_data's) cannot teach."""
    from data import records
    sources = records.with_mix(cfg.data_dir, meta, cfg.mix_data) if cfg.aux_tasks else []
    for name in cfg.aux_tasks or []:
        if name not in TASKS:
            raise ConfigError(f'--aux_tasks: no task {name!r} (there are {", ".join(TASKS)})')
        for data_dir, its_meta in sources:
            if TASKS[name].attribute not in its_meta.get('attributes', ()):
                have = ', '.join(its_meta.get('attributes', ())) or 'none'
                raise ConfigError(f'--aux_tasks={name} needs the attribute '
                                  f'{TASKS[name].attribute!r} in the records of {data_dir} '
                                  f'(they carry: {have}); UTKFace and FairFace records carry '
                                  'age and race')


def loss(end_points, batch, cfg, scope, reuse):
    """The weighted sum of the auxiliary heads' cross-entropies (0.0 without heads)."""
    total = tf.constant(0.0)
    for name in cfg.aux_tasks or []:
        task = TASKS[name]
        with v1.variable_scope(f'{scope}/aux_{name}', reuse=reuse):
            logits = slim.fully_connected(end_points['pre_logits'], task.classes,
                                          activation_fn=None, scope='logits')
        values = batch[f'attr/{task.attribute}']
        known = tf.cast(values >= 0, tf.float32)       # a face without it teaches nothing
        total += cfg.aux_weight * v1.losses.sparse_softmax_cross_entropy(
            task.labels(values), logits, weights=known, loss_collection=None)
    return total
