"""Faces of a class made by a trained generator pair (for --mode=generate and the demo);
the same seed makes the same faces."""
import numpy as np
import tensorflow as tf

from core import classes, gan, model
from core.store.errors import ConfigError

v1 = tf.compat.v1


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

        def build():
            self.noise = v1.placeholder(tf.float32, [None, gan.NOISE_DIM], name='noise')
            self.labels = v1.placeholder(tf.int32, [None], name='labels')
            self.images, _ = gan.generated(self.noise, self.labels, cfg, is_training=False)

        restored = model.restored(cfg, build)
        self.graph, self.sess, self.checkpoint = (restored.graph, restored.session,
                                                  restored.checkpoint)
        self.graph.finalize()

    def make(self, label, count, seed):
        """[count, H, W, 3] uint8 faces of class `label` (a name or an index) from `seed`."""
        index = label if isinstance(label, (int, np.integer)) else label_index(self.cfg, label)
        noise = gan.sample_noise(seed, count, self.cfg.truncation)
        out = self.sess.run(self.images, {self.noise: noise,
                                          self.labels: np.full([count], index, np.int32)})
        return gan.to_uint8(out)
