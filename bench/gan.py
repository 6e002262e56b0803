"""How good are the generator's faces? Judged by numbers, not by eye.

    python -m bench.gan --generator_dir=checkpoints/dcgan --classifier_dir=checkpoints/base_cnn60

For each class, `--count` generated faces (seeds 0, 1, ...) and the real held-out faces
of the generator's dataset:
- class share: how many of the generated faces our classifier gives the requested class
  (and, for reference, what it scores on the real faces of that class);
- diversity: mean pairwise distance of the classifier's features (its pre_logits layer),
  generated against real;
- copies: each face's RMS pixel distance (64x64 RGB, 0-1) to its nearest training face,
  generated against real held-out faces; "near copies" counts generated faces closer than
  the closest 1% of the real ones.
Prints a table, writes --output (JSON) and, with --grid, a PNG of faces for the README.
"""
import json
import os
import time

import numpy as np
from absl import app, flags

flags.DEFINE_string('generator_dir', 'checkpoints/dcgan', 'The trained generator pair.')
flags.DEFINE_string('classifier_dir', 'checkpoints/base_cnn60', 'The classifier that judges.')
flags.DEFINE_integer('count', 1000, 'Generated faces per class.')
flags.DEFINE_integer('real', 1000, 'Real held-out faces per class (at most what there is).')
flags.DEFINE_string('output', 'bench/gan.json', 'Where the figures go.')
flags.DEFINE_string('grid', None, 'Also write a grid of generated faces here (8 per class).')
flags.DEFINE_float('truncation', 1.0, 'The generator\'s noise scaled by this (--truncation).')
FLAGS = flags.FLAGS
SIDE = 64            # px: faces are compared at the generator's size


def faces_of_split(data_dir, split, side=SIDE):
    """(uint8 [N, side, side, 3] faces, int labels) of a split of a prepared dataset."""
    import tensorflow as tf
    from data import preprocess, records
    meta = records.read_meta(data_dir)
    spec = preprocess.ImageSpec((side, side), (side, side), 3)

    def decode(serialized):
        example = records.parse(serialized)
        image = tf.io.decode_jpeg(example['image/encoded'], channels=3)
        return (preprocess.resize_for_network(image[None], spec)[0],
                tf.cast(example['image/class/label'], tf.int32))
    ds = tf.data.TFRecordDataset(records.shard_files(data_dir, meta, split)).map(decode).batch(512)
    images, labels = zip(*((x.numpy(), y.numpy()) for x, y in ds))
    return np.concatenate(images), np.concatenate(labels)


def judge(classifier, faces):
    """(probabilities [N, classes], features [N, D]) of the classifier for each face."""
    probabilities, features = [], []
    for face in faces:
        _, layers, probs = classifier.layers_of(face)
        probabilities.append(probs)
        features.append(np.ravel(layers['pre_logits']))
    return np.array(probabilities), np.array(features)


def mean_pairwise_distance(x):
    squared = (x * x).sum(1)
    d2 = np.maximum(squared[:, None] + squared[None, :] - 2.0 * x @ x.T, 0.0)
    n = len(x)
    return float(np.sqrt(d2).sum() / (n * (n - 1)))


def nearest_distance(queries, pool, chunk=256):
    """RMS pixel distance (0-1 scale) of each query face to its nearest face in `pool`."""
    flat = pool.reshape(len(pool), -1).astype(np.float32) / 255.0
    pool_sq = (flat * flat).sum(1)
    out = []
    for start in range(0, len(queries), chunk):
        q = queries[start:start + chunk].reshape(-1, flat.shape[1]).astype(np.float32) / 255.0
        d2 = (q * q).sum(1)[:, None] + pool_sq[None, :] - 2.0 * q @ flat.T
        out.append(np.sqrt(np.maximum(d2.min(1), 0.0) / flat.shape[1]))
    return np.concatenate(out)


def main(_):
    import common.quiet  # noqa: F401
    from PIL import Image
    from core import config, gan
    from core.serve.generate import FaceGenerator
    from core.serve.inference import ImageModel
    gen_cfg = config.resolve({'mode': 'generate', 'train_dir': FLAGS.generator_dir,
                              'truncation': FLAGS.truncation}, {'truncation'})
    cls_cfg = config.resolve({'mode': 'eval', 'train_dir': FLAGS.classifier_dir,
                              'backend': 'tf'}, {'backend'})
    maker, classifier = FaceGenerator(gen_cfg), ImageModel(cls_cfg)
    cls_names = [c.lower() for c in cls_cfg.classes]
    print(f'generator {maker.checkpoint}; classifier {classifier.checkpoint}', flush=True)
    train_faces, _ = faces_of_split(gen_cfg.data_dir, 'train')
    real_faces, real_labels = faces_of_split(gen_cfg.data_dir, 'eval')
    rows, grids = {}, []
    for index, name in enumerate(gen_cfg.classes):
        start = time.time()
        made = np.concatenate([maker.make(index, 100, seed)
                               for seed in range(-(-FLAGS.count // 100))])[:FLAGS.count]
        seconds = time.time() - start
        grids.append(made[:8])
        real = real_faces[real_labels == index][:FLAGS.real]
        wanted = cls_names.index(name.lower())
        made_probs, made_features = judge(classifier, made)
        real_probs, real_features = judge(classifier, real)
        made_near, real_near = nearest_distance(made, train_faces), nearest_distance(real, train_faces)
        rows[name] = {
            'generated': len(made), 'real': len(real),
            'class_share': float(np.mean(made_probs.argmax(1) == wanted)),
            'real_class_share': float(np.mean(real_probs.argmax(1) == wanted)),
            'diversity': mean_pairwise_distance(made_features),
            'real_diversity': mean_pairwise_distance(real_features),
            'nearest_train_median': float(np.median(made_near)),
            'real_nearest_train_median': float(np.median(real_near)),
            'near_copies': int(np.sum(made_near < np.percentile(real_near, 1))),
            'ms_per_face': 1000.0 * seconds / len(made)}
    print(f'\n| class | classifier gives the class: generated | real | diversity: generated '
          f'| real | nearest training face (median): generated | real | near copies | ms/face |')
    print('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
    for name, r in rows.items():
        print(f'| {name} | {r["class_share"] * 100:.1f}% | {r["real_class_share"] * 100:.1f}% | '
              f'{r["diversity"]:.2f} | {r["real_diversity"]:.2f} | '
              f'{r["nearest_train_median"]:.3f} | {r["real_nearest_train_median"]:.3f} | '
              f'{r["near_copies"]} of {r["generated"]} | {r["ms_per_face"]:.2f} |')
    result = {'generator': maker.checkpoint, 'classifier': classifier.checkpoint,
              'truncation': FLAGS.truncation,
              'training_faces': len(train_faces), 'classes': rows}
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.output)), exist_ok=True)
    with open(FLAGS.output, 'w') as f:
        json.dump(result, f, indent=1)
    print(f'\nfigures in {FLAGS.output}')
    if FLAGS.grid:
        Image.fromarray(gan.tile(np.concatenate(grids), 8)).save(FLAGS.grid)
        print(f'grid (a row per class: {", ".join(gen_cfg.classes)}) in {FLAGS.grid}')


if __name__ == '__main__':
    app.run(main)
