"""The TFRecord format of a prepared dataset, and its `dataset.json` description.

A dataset folder holds `<split>-NNNNN-of-NNNNN.tfrecord` shards, `labels.txt`,
a report, and `dataset.json`, which is written last: a folder without it is an
unfinished conversion and is never read.
"""
import json
import os

from common import jsonfile
from common.deferred import tensorflow as tf

META_FILE = 'dataset.json'
ATTRIBUTE_MISSING = -1


class Damaged(OSError):
    """A shard that cannot be read to its end; str() names it."""


def damaged_shard(*data_dirs):
    """Damaged naming the first shard of these datasets that cannot be read to its end
    (truncated, overwritten), or None: asked after a read failed, to say which file."""
    for data_dir in data_dirs:
        for name in sorted(os.listdir(data_dir)):
            if not name.endswith('.tfrecord'):
                continue
            path = os.path.join(data_dir, name)
            try:
                # A plain reader: it runs inside a training's graph as well as outside.
                for _ in tf.compat.v1.io.tf_record_iterator(path):
                    pass
            except tf.errors.OpError as e:
                cause = (e.message or type(e).__name__).splitlines()[0][:160]
                return Damaged(f'{path} is damaged ({cause}): prepare or convert the dataset '
                               'again (the checkpoint of the last finished step is kept)')
    return None


def _bytes(value):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _int(value):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))


def make_example(encoded, label, label_text, height, width, filename, attributes=None):
    """A tf.train.Example for one image; `attributes` maps names (age, race, ...) to ints."""
    feature = {
        'image/encoded': _bytes(encoded),
        'image/format': _bytes(b'jpeg'),
        'image/class/label': _int(label),
        'image/class/text': _bytes(label_text.encode()),
        'image/height': _int(height),
        'image/width': _int(width),
        'image/filename': _bytes(filename.encode()),
    }
    for name, value in (attributes or {}).items():
        feature[f'image/attr/{name}'] = _int(value)
    return tf.train.Example(features=tf.train.Features(feature=feature))


def parse(serialized, attribute_names=()):
    """Parses one serialized Example into a dict of tensors (image still encoded)."""
    spec = {
        'image/encoded': tf.io.FixedLenFeature([], tf.string),
        'image/class/label': tf.io.FixedLenFeature([], tf.int64),
        'image/height': tf.io.FixedLenFeature([], tf.int64),
        'image/width': tf.io.FixedLenFeature([], tf.int64),
        'image/filename': tf.io.FixedLenFeature([], tf.string, default_value=''),
    }
    for name in attribute_names:
        spec[f'image/attr/{name}'] = tf.io.FixedLenFeature([], tf.int64,
                                                           default_value=ATTRIBUTE_MISSING)
    return tf.io.parse_single_example(serialized, spec)


def read_meta(data_dir):
    """The dataset description; a clear error when `data_dir` is not a finished dataset."""
    path = os.path.join(data_dir, META_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f'{data_dir} is not a converted dataset (no {META_FILE}); '
            f'make one with: python -m data.convert --src=PHOTO_FOLDERS --out={data_dir}')
    return jsonfile.read(path, required=('classes', 'splits'))


def eval_split(meta):
    """The split a model is judged on: 'eval', or 'train' for a dataset without one."""
    return 'eval' if 'eval' in meta['splits'] else 'train'


def in_fold(filenames, fold):
    """Whether each of `filenames` (a string tensor) belongs where `fold=(i, k, held_out)`
    asks: a face's fold is a hash of its file name, the same in every run."""
    index, folds, held_out = fold
    inside = tf.equal(tf.strings.to_hash_bucket_fast(filenames, folds), index)
    return inside if held_out else tf.logical_not(inside)


def shard_files(data_dir, meta, split):
    if split not in meta['splits']:
        raise ValueError(f'{data_dir} has no {split!r} split (it has: {", ".join(meta["splits"])})')
    return [os.path.join(data_dir, name) for name in meta['splits'][split]['shards']]


def write_json_atomic(path, obj):
    tmp = f'{path}.tmp'
    with open(tmp, 'w') as f:
        json.dump(obj, f, indent=1, ensure_ascii=False)
    os.replace(tmp, path)
