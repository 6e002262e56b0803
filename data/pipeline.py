"""tf.data input from TFRecord shards: parallel decode, cache, augment, batch, prefetch.

    ds = pipeline.make_dataset('records/utkface', 'train', spec, batch_size=64, training=True)
"""
import math

import tensorflow as tf

from data import preprocess, records

AUTOTUNE = tf.data.AUTOTUNE


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


def make_dataset(data_dir, split, spec, batch_size, training, cache_mb=4096, seed=None,
                 meta=None, part=(0, 1)):
    """Batches of {'image', 'label', 'filename', 'attr/...'}; endless and shuffled if training.

    Decoded, resized images are cached in memory when they fit in `cache_mb`,
    so later epochs skip JPEG decoding; augmentation stays random every epoch.
    `part=(i, n)`: only the i-th of n disjoint parts (a worker's share in a
    cluster): every n-th shard file, or every n-th record when there are fewer
    files than parts.
    """
    meta = meta or records.read_meta(data_dir)
    files = records.shard_files(data_dir, meta, split)
    count = meta['splits'][split]['count']
    attribute_names = tuple(meta.get('attributes', ()))
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
                       num_parallel_calls=AUTOTUNE, deterministic=not training)
    if parts > 1 and not by_file:
        ds = ds.shard(parts, index)
    ds = ds.map(lambda s: _decode(s, spec, attribute_names), num_parallel_calls=AUTOTUNE,
                deterministic=not training)
    image_bytes = spec.input_size[0] * spec.input_size[1] * spec.channels
    if count * image_bytes <= cache_mb * 2**20:
        ds = ds.cache()
    if training:
        buffer = max(1000, min(count, 10000, (256 * 2**20) // image_bytes))
        ds = ds.shuffle(buffer, seed=seed).repeat()

        def augment(example):
            return dict(example, image=preprocess.train_view(example['image'], spec))
        ds = ds.map(augment, num_parallel_calls=AUTOTUNE, deterministic=False)
        ds = ds.batch(batch_size, drop_remainder=True)
    else:
        ds = ds.batch(batch_size)
        ds = ds.map(lambda ex: dict(ex, image=preprocess.eval_view(ex['image'], spec)))
    return ds.prefetch(AUTOTUNE)
