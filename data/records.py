"""The TFRecord format of a prepared dataset, and its `dataset.json` description.

A dataset folder holds `<split>-NNNNN-of-NNNNN.tfrecord` shards, `labels.txt`,
a report, and `dataset.json`, which is written last: a folder without it is an
unfinished conversion and is never read.
"""
import json
import os

from common import jsonfile
from common.deferred import tensorflow as tf
from data import tfrecord

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
                for _ in tfrecord.read(path):
                    pass
            except (tfrecord.Damaged, OSError) as e:
                return Damaged(f'{path} is damaged ({e}): prepare or convert the dataset '
                               'again (the checkpoint of the last finished step is kept)')
    return None


def make_example(encoded, label, label_text, height, width, filename, attributes=None):
    """One image's serialized Example; `attributes` maps names (age, race, ...) to ints."""
    feature = {'image/encoded': encoded, 'image/format': b'jpeg', 'image/class/label': label,
               'image/class/text': label_text.encode(), 'image/height': height,
               'image/width': width, 'image/filename': filename.encode()}
    feature.update({f'image/attr/{name}': value for name, value in (attributes or {}).items()})
    return tfrecord.example(feature)


def faces_of(data_dir, meta, split, attribute_names=()):
    """Every face of a split (or a tuple of them) in order, without TensorFlow:
    {'image/encoded': bytes, 'label', 'filename', 'attr/<name>'} (ATTRIBUTE_MISSING where
    not recorded)."""
    splits = (split,) if isinstance(split, str) else split
    for path in [p for name in splits for p in shard_files(data_dir, meta, name)]:
        for payload in tfrecord.read(path):
            feature = tfrecord.parse(payload)
            face = {'image/encoded': feature['image/encoded'][0],
                    'label': feature['image/class/label'][0],
                    'filename': (feature.get('image/filename') or [b''])[0]}
            for name in attribute_names:
                face[f'attr/{name}'] = (feature.get(f'image/attr/{name}')
                                        or [ATTRIBUTE_MISSING])[0]
            yield face


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



def with_mix(data_dir, meta, mix_data=None):
    """[(folder, its dataset.json)] of a training's records and of the records --mix_data
    mixes into its batches: what a setting that reads the faces' attributes must find in both."""
    return [(data_dir, meta)] + ([(mix_data, read_meta(mix_data))] if mix_data else [])

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
