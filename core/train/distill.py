"""Distillation and ensembles: trained runs' probabilities on a split, averaged.

--teacher=DIR[,DIR...] (training): before the first step every teacher judges each training
face once, --data_dir's and --mix_data's (its own input size and channels, flip averaged,
logits divided by --distill_temperature); the mean of their softened probabilities is the
face's soft target, looked up by file name at every step, so teaching costs no step time.
The loss is (1 - w) * cross-entropy(labels) + w * T^2 * KL(soft targets || student
softened by T), w = --distill_weight (Hinton et al. 2015). Targets are cached in
train_dir/teachers.npz.

--ensemble=DIR[,DIR...] (--mode=eval): the run of --train_dir and these, their
flip-averaged probabilities averaged, reported as one model (eval_ensemble.json).

    python runner.py --net=nn_gender --data_dir=records/utkface_faces \
        --teacher=checkpoints/base_cnn60,checkpoints/abl_aux --train_dir=checkpoints/nn_gender_kd
    python runner.py --mode=eval --train_dir=checkpoints/base_cnn60 --ensemble=checkpoints/abl_aux
"""
import json
import os

import numpy as np
import tensorflow as tf

from core import checkpoints, model
from core.evaluate import calibration

CACHE_FILE = 'teachers.npz'


def member_config(train_dir, data_dir):
    """The settings of a trained run judging `data_dir` (flip averaged)."""
    from core import config
    return config.resolve({'mode': 'eval', 'train_dir': train_dir, 'data_dir': data_dir,
                           'eval_flip': True, 'backend': 'tf'},
                          explicit={'data_dir', 'eval_flip', 'backend'})


def split_logits(train_dir, data_dir, split):
    """{'logits', 'label', 'filename', 'attr/...', 'checkpoint', 'classes'} of a trained run
    over one split, in the split's order, through the one eval pipeline at its own input."""
    cfg = member_config(train_dir, data_dir)
    out, path = model.split_outputs(cfg, split)
    return dict(out, checkpoint=path, classes=cfg.classes)


def _columns(member, classes, train_dir, class_map=None):
    """The member's logit columns in the order of `classes`, matched by name as eval does
    (man/woman read as male/female, or --class_map); one line when a class has no match."""
    from core import classes as class_names
    from core.config import ConfigError
    found = class_names.mapping(classes, member['classes'], class_map)
    if len(found) != len(classes) or len(member['classes']) != len(classes):
        raise ConfigError(f'{train_dir} knows the classes {", ".join(member["classes"])}, this '
                          f'run {", ".join(classes)}: a teacher or ensemble member needs one '
                          'class for each (--class_map=ours=theirs,... says how they match)')
    return [found[i] for i in range(len(classes))]


def soft_targets(cfg):
    """(file names, soft targets [N, classes]) of the training faces, from cfg.teacher: those
    of --data_dir and of --mix_data, which every batch also draws from."""
    sources = [cfg.data_dir] + ([cfg.mix_data] if cfg.mix_data else [])
    key = {'teachers': [checkpoints.choose(t, 'best') for t in cfg.teacher],
           'temperature': cfg.distill_temperature, 'data_dir': os.path.abspath(cfg.data_dir),
           'mix_data': cfg.mix_data and os.path.abspath(cfg.mix_data)}
    cache = os.path.join(cfg.train_dir, CACHE_FILE)
    if os.path.isfile(cache):
        stored = np.load(cache)
        if json.loads(str(stored['key'])) == key:
            return stored['filename'], stored['targets']
    parts = [_taught(cfg, source) for source in sources]
    _check_unique([names for names, _ in parts], sources)
    filenames = np.concatenate([names for names, _ in parts])
    targets = np.concatenate([probabilities for _, probabilities in parts])
    os.makedirs(cfg.train_dir, exist_ok=True)
    np.savez(cache, filename=filenames, targets=targets, key=json.dumps(key))
    return filenames, targets


def _taught(cfg, data_dir):
    """(file names, mean softened probabilities in cfg.classes' order) of the training faces
    of `data_dir`, every teacher judging them once."""
    from data import records
    data_classes = records.read_meta(data_dir)['classes']
    probabilities = []
    for teacher in cfg.teacher:
        out = split_logits(teacher, data_dir, 'train')
        # Labels are in data_dir's class order, the targets in this run's.
        own = out['logits'][:, _columns(out, data_classes, teacher, cfg.class_map)]
        accuracy = np.mean(own.argmax(-1) == out['label'])
        print(f'teacher {out["checkpoint"]}: {accuracy * 100:.2f}% on the {len(out["label"])} '
              f'training faces of {data_dir} (flip averaged)', flush=True)
        logits = out['logits'][:, _columns(out, cfg.classes, teacher, cfg.class_map)]
        names = np.asarray(out['filename']).astype('S')
        order = np.argsort(names, kind='stable')
        probabilities.append(calibration.softmax(logits[order], cfg.distill_temperature))
    return names[order], np.mean(probabilities, axis=0).astype(np.float32)


def _check_unique(name_lists, sources):
    """Targets are looked up by file name: a name in two datasets would take the other's."""
    if len(name_lists) < 2:
        return
    shared = np.intersect1d(*name_lists)
    if len(shared):
        from core.config import ConfigError
        raise ConfigError(f'{sources[0]} and {sources[1]} both have a training face named '
                          f'{shared[0].decode()} ({len(shared)} such names): --teacher looks its '
                          'soft targets up by file name, so train it without --mix_data')


def loss(logits, batch, cfg, hard_loss, targets):
    """The training loss with the teachers' soft targets mixed in (targets from
    soft_targets; a face without one, by name, learns from its label alone)."""
    filenames, table_targets = targets
    table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
        tf.constant(filenames), tf.range(len(filenames), dtype=tf.int64)), default_value=-1)
    index = table.lookup(batch['filename'])
    found = tf.cast(index >= 0, tf.float32)
    soft = tf.gather(tf.constant(table_targets), tf.maximum(index, 0))
    t = cfg.distill_temperature
    student = tf.nn.log_softmax(logits / t)
    kl = tf.reduce_sum(soft * (tf.math.log(tf.maximum(soft, 1e-8)) - student), axis=-1)
    soft_loss = t * t * tf.reduce_sum(kl * found) / tf.maximum(tf.reduce_sum(found), 1.0)
    w = cfg.distill_weight
    return (1.0 - w) * hard_loss + w * soft_loss


def evaluate_ensemble(cfg, split):
    """The eval report of the mean probabilities of cfg.train_dir's run and cfg.ensemble."""
    from core.evaluate import report
    members = [cfg.train_dir, *cfg.ensemble]
    outs = []
    for member in members:
        out = split_logits(member, cfg.data_dir, split)
        out['logits'] = out['logits'][:, _columns(out, cfg.classes, member, cfg.class_map)]
        accuracy = np.mean(out['logits'].argmax(-1) == out['label'])
        print(f'member {out["checkpoint"]}: {accuracy * 100:.2f}% (flip averaged)')
        outs.append(out)
    first = outs[0]
    for out in outs[1:]:
        if not np.array_equal(out['filename'], first['filename']):
            raise ValueError('ensemble members read the split in different orders')
    mean = np.mean([calibration.softmax(o['logits']) for o in outs], axis=0).astype(np.float32)
    combined = {k: v for k, v in first.items() if k in ('label', 'filename') or
                k.startswith('attr/')}
    combined.update(logits=np.log(np.maximum(mean, 1e-12)),
                    prediction=mean.argmax(-1).astype(np.int32))
    print(f'ensemble of {len(members)} runs: {", ".join(members)}')
    return report.write(cfg, split, combined, first['checkpoint'], suffix='_ensemble')
