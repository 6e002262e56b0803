"""Group-balanced sampling: faces of small groups drawn more often, those of large ones less.

A group is a face's race x class x age decade, as far as its records carry them (a
missing attribute is a value of its own). With power p a face of a group of n faces is
drawn in proportion to n^-p: p = 1 draws every group equally often, p = 0.5 by the
square root of its size (a rare group is seen more often without its few faces being
repeated into memorisation). The weights are scaled so that an epoch stays the split's
size, and applied by repeating each face floor(w) or ceil(w) times at random.
"""
import numpy as np
import tensorflow as tf

from data import records

AGE_DECADES = 8         # 0-9, ..., 60-69, 70+


def group_key(label, race, age, num_classes):
    """One int per (race, class, age decade); works on ints and on int32 tensors alike."""
    decade = (age // 10).clip(0, AGE_DECADES - 1) if isinstance(age, np.ndarray) else \
        tf.clip_by_value(age // 10, 0, AGE_DECADES - 1)
    decade = decade * (age >= 0) + AGE_DECADES * (age < 0) if isinstance(age, np.ndarray) \
        else tf.where(age >= 0, decade, AGE_DECADES)
    return ((race + 1) * num_classes + label) * (AGE_DECADES + 1) + decade


def _attributes(data_dir, meta, splits, fold):
    """(labels, races, ages) of every face of the splits (of the `fold`, as the stream
    draws it), -1 where not recorded."""
    labels, races, ages, names = [], [], [], []
    for face in records.faces_of(data_dir, meta, splits, ('race', 'age')):
        labels.append(face['label'])
        races.append(face['attr/race'])
        ages.append(face['attr/age'])
        names.append(face['filename'])
    kept = np.ones(len(names), bool) if fold is None or not names else \
        records.in_fold(tf.constant(names), fold).numpy()
    return np.array(labels)[kept], np.array(races)[kept], np.array(ages)[kept]


def weight_table(data_dir, meta, splits, power, fold=None):
    """The weight of each group key (an array indexed by key), an epoch's worth in all, over
    the faces of `splits` (a tuple) that `fold` keeps."""
    labels, races, ages = _attributes(data_dir, meta, splits, fold)
    num_classes = len(meta['classes'])
    keys = group_key(labels, races, ages, num_classes)
    counts = np.bincount(keys)
    weights = np.where(counts > 0, np.maximum(counts, 1).astype(np.float64) ** -power, 0.0)
    weights *= len(keys) / float((counts * weights).sum())
    return weights.astype(np.float32)


def rebalance(ds, weights, num_classes, seed):
    """An endless stream of examples (with 'label', 'attr/race', 'attr/age' where recorded)
    -> each repeated by its group's weight, randomly rounded."""
    table = tf.constant(weights)
    ds = tf.data.Dataset.zip((ds, tf.data.Dataset.counter()))

    def copies(example, position):
        missing = tf.fill([], records.ATTRIBUTE_MISSING)
        key = group_key(example['label'], example.get('attr/race', missing),
                        example.get('attr/age', missing), num_classes)
        weight = tf.gather(table, key)
        draw = tf.random.stateless_uniform([], tf.stack([tf.constant(seed, tf.int64), position]))
        count = tf.cast(tf.floor(weight + draw), tf.int64)
        return tf.data.Dataset.from_tensors(example).repeat(count)
    return ds.flat_map(copies)
