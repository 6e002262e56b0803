"""Fine-tuning from a base model, the research/slim way (--checkpoint_path,
--checkpoint_exclude_scopes, --trainable_scopes):

    python runner.py --net=cnn60 --data_dir=my_photos --train_dir=checkpoints/mine \
        --init_from=checkpoints/base_cnn60

At step 0 every network variable that the base checkpoint holds under the same name
and shape is restored; the rest starts fresh. Classes are matched by name (--class_map,
or the same name, or man/woman as male/female): when every class has its match in the
base, even the classifier layer is kept, its rows put in the new order, so training
starts from the base model's own answers. Otherwise the classifier layer starts fresh.
"""
import os

import numpy as np
import tensorflow as tf

from core import checkpoints, config, model
from core import classes as classes_
from data import pipeline, records

LOGITS_SCOPE = f'{model.NET_SCOPE}/logits'


def base_checkpoint(init_from):
    """The checkpoint of --init_from (a training folder: its best, else its last; or a
    checkpoint path) and the base run's settings (run.json) when they can be found."""
    path = checkpoints.choose(init_from, 'best') if os.path.isdir(init_from) \
        else checkpoints.choose(os.path.dirname(init_from), init_from)
    return path, config.base_run(init_from)


def check_base(cfg, base):
    """One line naming the difference when the base was trained for another network."""
    if not base:
        return
    for key in ('net', 'input_size', 'crop_size', 'channels', 'net_options'):
        mine, theirs = config._plain(getattr(cfg, key)), base.get(key)
        if key == 'net_options':             # a width of its own would restore nothing
            mine = mine or {}
        if theirs is not None and mine != theirs:
            raise config.ConfigError(
                f'--init_from={cfg.init_from} was trained with --{key}={config._show(theirs)}, '
                f'this run has --{key}={config._show(mine)}: they must match (give the same '
                f'--{key}, or another base)')


def class_mapping(classes, base_classes, class_map=None):
    """{new class index: base class index}; an explicit map must name base classes."""
    unknown = {item.split('=', 1)[-1] for item in class_map or []} - set(base_classes)
    if unknown:
        raise config.ConfigError(f'--class_map names {", ".join(sorted(unknown))}, which the '
                                 f'base does not have (its classes: {", ".join(base_classes)})')
    return classes_.mapping(classes, base_classes, class_map)


def check(cfg, meta):
    """Before anything is written: the base exists and fits this run's network, and
    --mix_data's classes are ours."""
    if cfg.init_from:
        check_base(cfg, base_checkpoint(cfg.init_from)[1])
    if cfg.mix_data:
        mix_labels(cfg, meta, records.read_meta(cfg.mix_data))


def init_fn(cfg):
    """A function(session) that restores the base into a freshly initialised network, or
    None without --init_from. Prints what it restores and how the classes map."""
    if not cfg.init_from:
        return None
    path, base = base_checkpoint(cfg.init_from)
    check_base(cfg, base)
    base_classes = (base or {}).get('classes') or []
    mapping = class_mapping(cfg.classes, base_classes, cfg.class_map)
    keep_logits = len(mapping) == len(cfg.classes) == len(set(mapping.values()))
    excluded = list(cfg.exclude_scopes or ([] if keep_logits else [LOGITS_SCOPE]))
    reader = tf.train.load_checkpoint(path)
    stored = reader.get_variable_to_shape_map()
    variables = [v for v in tf.compat.v1.global_variables()
                 if v.op.name.startswith(model.NET_SCOPE + '/')]
    plan, fresh = [], []
    for var in variables:
        name = var.op.name
        if any(name.startswith(scope.rstrip('/') + '/') for scope in excluded) or \
                stored.get(name) != var.shape.as_list():
            fresh.append(name)
        else:
            plan.append((var, name))
    if not plan:
        raise config.ConfigError(f'--init_from={cfg.init_from}: no variable of this network '
                                 f'is in {path} (another --net?)')
    shown = classes_.describe(cfg.classes, base_classes, mapping)
    order = [mapping[i] for i in range(len(cfg.classes))] if keep_logits else None

    def restore(sess):
        """Runs only for a new training (a resumed one restores its own checkpoint), so the
        base is read, and the line printed, only then."""
        for var, name in plan:
            value = reader.get_tensor(name)
            if order and name.startswith(LOGITS_SCOPE + '/'):
                value = value[..., order]      # the base's rows in this run's class order
            var.load(np.asarray(value), sess)
        print(f'Fine-tuning from {path}: {len(plan)} variables restored, {len(fresh)} fresh'
              + (f' ({", ".join(fresh)})' if fresh else '') + '; classes '
              + (f'mapped {shown}' if keep_logits else
                 f'not all in the base ({", ".join(base_classes) or "unknown"}): new classifier '
                 'layer'), flush=True)
    return restore


def mix_labels(cfg, meta, mix_meta):
    """--mix_data's labels in this dataset's class indices (a list: its index -> ours); every
    class of it must have its match here (by --class_map, name, or man/woman as male/female)."""
    theirs = mix_meta['classes']
    found = class_mapping(meta['classes'], theirs, cfg.class_map)
    labels = {j: i for i, j in found.items()}
    missing = [name for j, name in enumerate(theirs) if j not in labels]
    if missing:
        raise config.ConfigError(
            f'--mix_data={cfg.mix_data} has classes this dataset lacks: {", ".join(missing)} '
            f'(ours: {", ".join(meta["classes"])}); match them with --class_map')
    return [labels[j] for j in range(len(theirs))]


def mix(cfg, meta):
    """The pipeline.Mix of --mix_data (None without it); says what it mixes in."""
    if not cfg.mix_data:
        return None
    mix_meta = records.read_meta(cfg.mix_data)
    labels = mix_labels(cfg, meta, mix_meta)
    pairs = classes_.describe(mix_meta['classes'], meta['classes'], dict(enumerate(labels)))
    print(f'Mixing in {cfg.mix_data}: about {cfg.mix_share:.0%} of every batch ({pairs})',
          flush=True)
    return pipeline.Mix(cfg.mix_data, cfg.mix_share, labels, mix_meta)
