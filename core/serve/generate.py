"""--mode=generate: faces of a class made by a trained generator pair; the same seed
makes the same faces.

    python runner.py --net=dcgan --mode=generate --label=female --count=16 --seed=7
    -> checkpoints/dcgan/generated/female-seed7.png (the grid) and female-seed7-01.png ...
"""
import os

import numpy as np
import tensorflow as tf

from core import checkpoints, classes, gan, model
from core.store.errors import ConfigError

v1 = tf.compat.v1
GRID_COLUMNS = 8


def label_index(cfg, label):
    """The class index of `label`, matched as class names are everywhere (any case, woman as
    female, --class_map); a one-line error naming the classes."""
    found = classes.mapping([str(label)], cfg.classes, cfg.class_map)
    if not found:
        raise ConfigError(f'--label={label} is not a class of this generator; its classes: '
                          f'{", ".join(cfg.classes)}')
    return found[0]


class FaceGenerator:
    """A restored generator (its averaged weights when trained with --moving_average_decay)."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.noise = v1.placeholder(tf.float32, [None, gan.NOISE_DIM], name='noise')
            self.labels = v1.placeholder(tf.int32, [None], name='labels')
            images, _ = gan.generated(self.noise, self.labels, cfg, is_training=False)
            self.images = images
            self.sess = v1.Session(graph=self.graph, config=model.session_config(cfg))
            self.checkpoint = checkpoints.restore(self.sess, cfg.train_dir, cfg.checkpoint,
                                                  cfg.averaged)
        self.graph.finalize()

    def make(self, label, count, seed):
        """[count, H, W, 3] uint8 faces of class `label` (a name or an index) from `seed`."""
        index = label if isinstance(label, (int, np.integer)) else label_index(self.cfg, label)
        noise = gan.sample_noise(seed, count, self.cfg.truncation)
        out = self.sess.run(self.images, {self.noise: noise,
                                          self.labels: np.full([count], index, np.int32)})
        return gan.to_uint8(out)


def generate(cfg):
    from PIL import Image
    labels = [cfg.classes[label_index(cfg, cfg.label)]] if cfg.label else list(cfg.classes)
    seed = cfg.seed if cfg.seed is not None else gan.random_seed()
    maker = FaceGenerator(cfg)
    out_dir = cfg.output or os.path.join(cfg.train_dir, 'generated')
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for label in labels:
        faces = maker.make(label, cfg.count, seed)
        stem = os.path.join(out_dir, f'{label}-seed{seed}')
        Image.fromarray(gan.tile(faces, min(GRID_COLUMNS, cfg.count))).save(stem + '.png')
        for i, face in enumerate(faces, start=1):
            Image.fromarray(face).save(f'{stem}-{i:02d}.png')
        written.append(stem + '.png')
        print(f'{cfg.count} {label} faces (seed {seed}): {stem}.png and '
              f'{os.path.basename(stem)}-01..{cfg.count:02d}.png')
    print(f'from {maker.checkpoint}; the same --seed={seed} makes the same faces')
    return {'grids': written, 'seed': seed, 'dir': out_dir}
