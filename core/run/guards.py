"""Floors that keep a person from being handed a useless model without a word.

- Training faces per class: below MIN_FACES_PER_CLASS a network learns little from
  scratch (FINETUNE_FACES_PER_CLASS when starting from a base model, --init_from).
- Evaluation: a "best" checkpoint and a calibration temperature are chosen only on
  MIN_EVAL_FACES eval faces or more; below that the last checkpoint is used, T = 1.
- Fine-tuning: the model kept is set against the base on the same eval faces, and a
  fine-tuning that made it worse on enough of them says so.
"""
import numpy as np

from core import model
from core.evaluate.calibration import MIN_EVAL_FACES
from core.store.errors import ConfigError
from core.store import released

MIN_FACES_PER_CLASS = 100        # from scratch
FINETUNE_FACES_PER_CLASS = 10    # from a base model
MIN_EVAL_INTERVAL = 20           # steps: no eval line on every step when an epoch is one step
# A training step holds each layer's output, its gradient and the tensors between layers
# that end_points do not list: this many times the listed outputs, as a floor.
TRAINING_MEMORY_FACTOR = 4


def check_dataset(cfg, meta):
    """Stops with one line when the training split cannot give a useful model."""
    per_class = meta['splits'].get('train', {}).get('per_class', {})
    present = {name: count for name, count in per_class.items() if count}
    where = cfg.data_dir
    if not present:
        raise ConfigError(f'{where} has no training faces: nothing to learn from')
    if len(present) < 2:
        raise ConfigError(f'{where} has training faces of one class only ({", ".join(present)}):'
                          ' a classifier needs two or more classes')
    floor = FINETUNE_FACES_PER_CLASS if cfg.init_from else MIN_FACES_PER_CLASS
    few = {name: count for name, count in per_class.items() if count < floor}
    if few:
        counts = ', '.join(f'{name} {count}' for name, count in per_class.items())
        hint = ('add photos' if cfg.init_from else
                'start from the released model: python runner.py --data_dir='
                f'{cfg.data_dir} --init_from={released.DEFAULT} --train_dir=checkpoints/mine '
                '(README: "The first hour"), or add photos')
        raise ConfigError(f'{where} has too few training faces per class ({counts}; at least '
                          f'{floor} each wanted): {hint}')


def check_hair_ages(cfg, meta):
    """--hide_hair_from_age reads each face's recorded age: one line when it would change
    nothing (no --hide_hair, or records, --mix_data's too, that carry no age)."""
    if not cfg.hide_hair_from_age:
        return
    if not cfg.hide_hair:
        raise ConfigError(f'--hide_hair_from_age={cfg.hide_hair_from_age} needs --hide_hair '
                          '(the share of faces whose hair is hidden)')
    from data import records
    for data_dir, its_meta in records.with_mix(cfg.data_dir, meta, cfg.mix_data):
        if 'age' not in its_meta.get('attributes', ()):
            raise ConfigError(f'--hide_hair_from_age needs the faces\' ages: the records of '
                              f'{data_dir} carry none (UTKFace and FairFace records do)')


def describe_best(best, eval_count):
    if best.get('step'):
        return f'best eval accuracy {best["accuracy"] * 100:.2f}% at step {best["step"]}'
    if eval_count < MIN_EVAL_FACES:
        return (f'no best checkpoint: {eval_count} eval faces are too few to pick one '
                f'(at least {MIN_EVAL_FACES}), so the last checkpoint is used')
    return 'no evaluation yet'


def compare_with_base(tuned, base, init_from):
    """One line: the fine-tuned model kept against the base, on the same eval faces."""
    line = (f'fine-tuned {tuned["accuracy"] * 100:.2f}% against the base\'s '
            f'{base["accuracy"] * 100:.2f}% on the same {base["count"]} eval faces')
    if base['count'] < MIN_EVAL_FACES:
        return line + f': too few to tell the two apart (at least {MIN_EVAL_FACES})'
    if tuned['accuracy'] < base['accuracy']:
        return (line + ': on them fine-tuning made the model worse; '
                f'--train_dir={init_from} predicts with the base')
    return line


def check_memory(cfg):
    """A batch whose activations would not fit in the memory available now is refused in
    one line before any work (a batch of 100,000 faces grew to 6 GB, then a segfault)."""
    per_face = TRAINING_MEMORY_FACTOR * 4 * activations_per_face(cfg)      # float32 bytes
    available = available_memory()
    if available and cfg.batch_size * per_face > available:
        raise ConfigError(f'--batch_size={cfg.batch_size} needs about '
                          f'{cfg.batch_size * per_face / 2**30:.1f} GB for {cfg.net}\'s '
                          f'activations, more than the {available / 2**30:.1f} GB this machine '
                          f'has free: use at most --batch_size={int(available // per_face)}')


def activations_per_face(cfg):
    """Values of the network's listed layer outputs for one face (its input included)."""
    import tensorflow as tf
    with tf.Graph().as_default():
        images = tf.compat.v1.placeholder(tf.float32, [None, *cfg.crop_size, cfg.channels])
        _, end_points = model.build_network(images, cfg, is_training=True)
        shapes = [images.shape] + [t.shape for t in end_points.values()]
    return sum(int(np.prod(shape[1:])) for shape in shapes if shape.rank)


def available_memory():
    """Bytes the kernel says a new process can take now (MemAvailable), None if unknown."""
    try:
        with open('/proc/meminfo') as f:
            for line in f:
                if line.startswith('MemAvailable:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None
