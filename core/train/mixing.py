"""Mixup and CutMix (Zhang et al. 2018; Yun et al. 2019): each training batch is mixed
with a shuffled copy of itself, and the loss is the same mix of the two labels' losses.

    python runner.py --net=cnn60 --data_dir=records/utkface_faces --cutmix_alpha=1.0
    python runner.py --net=cnn60 --data_dir=records/utkface_faces --mixup_alpha=0.2

Mixup blends whole images with a share lam ~ Beta(alpha, alpha); CutMix pastes a
rectangle of the partner image covering 1 - lam of the face and weighs the labels by
the area actually pasted. The draws are stateless functions of (the run's seed, the
step), so a seeded run repeats.
"""
import dataclasses

import tensorflow as tf

from core import model


def enabled(cfg):
    return bool(cfg.mixup_alpha or cfg.cutmix_alpha)


def _beta(alpha, seed):
    """lam ~ Beta(alpha, alpha) as the ratio of two stateless gamma draws."""
    g = tf.random.stateless_gamma([2], seed, alpha=alpha)
    return g[0] / (g[0] + g[1])


@dataclasses.dataclass(frozen=True)
class Mixed:
    """A batch mixed with itself in another order."""
    images: tf.Tensor
    partner: tf.Tensor       # for each image, the index of the one mixed into it
    lam: tf.Tensor           # the share of each image's own label


def mix(images, global_step, cfg, run_seed):
    """Mixed, or None when neither --mixup_alpha nor --cutmix_alpha is set."""
    if not enabled(cfg):
        return None
    seed = tf.stack([tf.constant(run_seed, tf.int64), tf.cast(global_step, tf.int64)])
    keys = tf.unstack(tf.random.experimental.stateless_split(seed, 4))
    count = tf.shape(images)[0]
    partner = tf.argsort(tf.random.stateless_uniform([count], keys[0]))
    other = tf.gather(images, partner)
    if cfg.mixup_alpha:
        lam = _beta(cfg.mixup_alpha, keys[1])
        return Mixed(images=lam * images + (1.0 - lam) * other, partner=partner, lam=lam)
    lam = _beta(cfg.cutmix_alpha, keys[1])
    height, width = tf.shape(images)[1], tf.shape(images)[2]
    h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    cut = tf.sqrt(1.0 - lam)                           # the box's side, as a share
    centre = tf.random.stateless_uniform([2], keys[2]) * tf.stack([h, w])
    top, bottom = (tf.clip_by_value(centre[0] + s * cut * h / 2, 0.0, h) for s in (-1, 1))
    left, right = (tf.clip_by_value(centre[1] + s * cut * w / 2, 0.0, w) for s in (-1, 1))
    rows = tf.range(h)[:, None] + 0.5
    cols = tf.range(w)[None, :] + 0.5
    inside = (rows >= top) & (rows < bottom) & (cols >= left) & (cols < right)
    inside = tf.cast(inside, images.dtype)[None, :, :, None]
    pasted = tf.reduce_mean(inside)                    # the share the partner covers
    return Mixed(images=images * (1.0 - inside) + other * inside, partner=partner,
                 lam=1.0 - pasted)


def loss(logits, labels, mixed, cfg):
    """The mix of the losses against each image's label and its partner's."""
    own = model.loss_fn(logits, labels, cfg)
    theirs = model.loss_fn(logits, tf.gather(labels, mixed.partner), cfg)
    return mixed.lam * own + (1.0 - mixed.lam) * theirs
