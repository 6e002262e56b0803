"""tf.data input from TFRecord shards: parallel decode, cache, augment, batch, prefetch.

    ds = pipeline.make_dataset('records/utkface', 'train', spec, batch_size=64, training=True)
"""
import math
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from data import balance as balancing, preprocess, records

AUTOTUNE = tf.data.AUTOTUNE


def _finished(ds):
    """The dataset as every mode reads it. tf.data's autotuning is off: its model thread held
    the close of a session whose stream was cut mid-flight (every training's end, each fold of
    a fine-tuning) for up to 5 s, and the parallelism AUTOTUNE falls back to without it fed
    the trainings as fast (docs/measurements.md, "The input pipeline's autotuning")."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.prefetch(AUTOTUNE).with_options(options)


def _decode(serialized, spec, attribute_names):
    features = records.parse(serialized, attribute_names)
    image = tf.io.decode_jpeg(features['image/encoded'], channels=3,
                              dct_method='INTEGER_ACCURATE')
    example = {'image': preprocess.resize_for_network(image[None], spec)[0],
               'label': tf.cast(features['image/class/label'], tf.int32),
               'filename': features['image/filename']}
    for name in attribute_names:
        example[f'attr/{name}'] = tf.cast(features[f'image/attr/{name}'], tf.int32)
    return example


def run_seed(seed=None):
    """`seed`, or one drawn for this run: what seeds its stateless random draws."""
    return seed if seed is not None else int(np.random.SeedSequence().entropy % 2**31)


def resumed_seed(seed, step):
    """The stream's seed of a seeded run resumed at `step`: a stream of its own, so that a
    run stopped and resumed does not see its first batches again, in the same order and
    augmentation; the same for every resumption at that step. `seed` itself at step 0, and
    None (a seed drawn for the run) stays None."""
    if seed is None or not step:
        return seed
    return int(np.random.SeedSequence([seed, step]).generate_state(1)[0] % 2**31)


def make_dataset(data_dir, split, spec, batch_size, training, *, cache_mb=4096, seed=None,
                 meta=None, part=(0, 1), mix=None, balance=0.0, fold=None):
    """Batches of {'image', 'label', 'filename', 'attr/...'}; endless and shuffled if training.

    Decoded, resized images are cached in memory when they fit in `cache_mb`,
    so later epochs skip JPEG decoding; augmentation stays random every epoch.
    With a `seed` the whole stream (order and augmentation) is the same in every run;
    without one it differs from run to run.
    `part=(i, n)`: only the i-th of n disjoint parts (a worker's share in a
    cluster): every n-th shard file, or every n-th record when there are fewer
    files than parts.
    `mix` (training only): a Mix whose `share` of the faces comes from another dataset,
    its labels put into this one's by `labels` (a list: its class index -> ours); only the
    attributes both datasets carry are kept.
    `balance` (training only): group-balanced sampling of this dataset's faces with this
    power (data/balance.py); the mixed-in dataset is drawn as it is.
    `split` may be a tuple of splits, read as one. `fold=(i, k, held_out)`: the faces of
    fold i of k (held_out) or every other fold's; a face's fold is a hash of its file name,
    so it is the same in every run.
    """
    meta = meta or records.read_meta(data_dir)
    splits = (split,) if isinstance(split, str) else tuple(split)
    # Parallel stages may hand on elements as they finish (faster) unless a seed asks for
    # the same run twice.
    ordered = not training or seed is not None
    if training:
        seed = run_seed(seed)
    attribute_names = tuple(meta.get('attributes', ()))
    if mix:
        attribute_names = tuple(a for a in attribute_names if a in mix.meta.get('attributes', ()))
    ds = _examples(data_dir, splits, spec, training, cache_mb, seed, meta, part, attribute_names,
                   ordered, fold)
    if training and balance:
        weights = balancing.weight_table(data_dir, meta, splits, balance, fold)
        ds = balancing.rebalance(ds, weights, len(meta['classes']), seed + 2)
        ds = ds.shuffle(1000, seed=seed)       # a face's copies apart
    if not training:
        ds = ds.batch(batch_size)
        ds = ds.map(lambda ex: dict(ex, image=preprocess.eval_view(ex['image'], spec)))
        return _finished(ds)
    if mix:
        labels = tf.constant(mix.labels, tf.int32)
        other = _examples(mix.data_dir, ('train',), spec, True, cache_mb, seed + 1, mix.meta, part,
                          attribute_names, ordered)
        other = other.map(lambda ex: dict(ex, label=tf.gather(labels, ex['label'])))
        ds = tf.data.Dataset.sample_from_datasets([ds, other], [1.0 - mix.share, mix.share],
                                                  seed=seed)
    # Each example's augmentation seed: (the run's seed, its position in the stream).
    ds = tf.data.Dataset.zip((ds, tf.data.Dataset.counter()))

    def augment(example, position):
        example_seed = tf.stack([tf.constant(seed, tf.int64), position])
        return dict(example, image=preprocess.train_view(example['image'], spec, example_seed,
                                                         example.get('attr/age')))
    ds = ds.map(augment, num_parallel_calls=AUTOTUNE, deterministic=ordered)
    ds = ds.batch(batch_size, drop_remainder=True)
    return _finished(ds)


class Mix(NamedTuple):
    data_dir: str
    share: float
    labels: list
    meta: dict          # its dataset.json


def _examples(data_dir, splits, spec, training, cache_mb, seed, meta, part, attribute_names,
              ordered, fold=None):
    """The decoded, resized examples of the splits (this `part`, this `fold`); when
    training, shuffled and endless."""
    files = [f for name in splits for f in records.shard_files(data_dir, meta, name)]
    count = sum(meta['splits'][name]['count'] for name in splits)
    index, parts = part
    by_file = parts > 1 and len(files) >= parts
    if by_file:
        files = files[index::parts]
    if parts > 1:
        count = math.ceil(count / parts)
    ds = tf.data.Dataset.from_tensor_slices(files)
    if training:
        ds = ds.shuffle(len(files), seed=seed)
    ds = ds.interleave(tf.data.TFRecordDataset, cycle_length=min(4, len(files)),
                       num_parallel_calls=AUTOTUNE, deterministic=ordered)
    if parts > 1 and not by_file:
        ds = ds.shard(parts, index)
    ds = ds.map(lambda s: _decode(s, spec, attribute_names), num_parallel_calls=AUTOTUNE,
                deterministic=ordered)
    if fold:
        ds = ds.filter(lambda example: records.in_fold(example['filename'], fold))
    image_bytes = spec.input_size[0] * spec.input_size[1] * spec.channels
    if count * image_bytes <= cache_mb * 2**20:
        ds = ds.cache()
    if training:
        buffer = max(1000, min(count, 10000, (256 * 2**20) // image_bytes))
        ds = ds.shuffle(buffer, seed=seed).repeat()
    return ds


def run_split(sess, iterator, fetches):
    """Yields `fetches` (a dict of batch tensors fed by `iterator`) batch by batch over one
    pass of a split: the one way every mode walks a split. `iterator` is initializable,
    never one-shot: the OneShotIterator kernel can hold inter-op threads and deadlock on
    small machines (tensorflow#10519)."""
    sess.run(iterator.initializer)
    while True:
        try:
            yield sess.run(fetches)
        except tf.errors.OutOfRangeError:
            return


def concatenate(batches):
    """The batches of run_split (dicts of arrays) joined into one dict of arrays."""
    parts = {}
    for out in batches:
        for k, v in out.items():
            parts.setdefault(k, []).append(v)
    return {k: np.concatenate(v) for k, v in parts.items()}
