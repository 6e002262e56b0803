"""Fine-tuning from a base model, the research/slim way (--checkpoint_path,
--checkpoint_exclude_scopes, --trainable_scopes):

    python runner.py --data_dir=my_photos --train_dir=checkpoints/mine \
        --init_from=checkpoints/base          # a training folder, or a released model's name

At step 0 every network variable that the base checkpoint holds under the same name
and shape is restored; the rest starts fresh. Classes are matched by name (--class_map,
or the same name, or man/woman as male/female): when every class has its match in the
base, even the classifier layer is kept, its rows put in the new order, so training
starts from the base model's own answers. Otherwise the classifier layer starts fresh.
When training ends, the restored weights are averaged with the base's (--base_share,
WiSE-FT: Wortsman et al., "Robust fine-tuning of zero-shot models", 2022).
"""
import os

import numpy as np
import tensorflow as tf

from core import checkpoints, config, model
from core import classes as classes_
from core.store import runs
from data import pipeline, records

LOGITS_SCOPE = f'{model.NET_SCOPE}/logits'


def base_checkpoint(init_from):
    """The checkpoint of --init_from (a training folder: its best, else its last; or a
    checkpoint path) and the base run's settings (run.json) when they can be found."""
    path = checkpoints.choose(init_from, 'best') if os.path.isdir(init_from) \
        else checkpoints.choose(os.path.dirname(init_from), init_from)
    return path, runs.of_checkpoint(init_from)


def check_base(cfg, base):
    """One line naming the difference when the base's graph does not fit this run's. The
    network itself may differ (slim's --checkpoint_path into another net): what the two
    share by name and shape is restored, e.g. a trained body under a new head; Base names
    the rest, and refuses a base that lends under half the weights (check_lent)."""
    if not base:
        return
    for key in runs.BASE_FIXED:
        mine, theirs = config.plain(getattr(cfg, key)), base.get(key)
        if key == 'net_options':             # a width of its own would restore nothing
            mine = mine or {}
        if theirs is not None and mine != theirs:
            raise config.ConfigError(
                f'--init_from={cfg.init_from} was trained with --{key}={config.show(theirs)}, '
                f'this run has --{key}={config.show(mine)}: they must match (give the same '
                f'--{key}, or another base)')


def check_lent(cfg, base_net, restored, total):
    """A base of another net must lend most of this one's weights (a trained body under a
    new head): one sharing a layer's shape or two would train this net from scratch while
    calling it fine-tuning."""
    if restored < total / 2:
        raise config.ConfigError(
            f'--init_from={cfg.init_from} is a {base_net}: it holds {restored:,} of this '
            f'{cfg.net}\'s {total:,} weights (give --net={base_net}, or a base of {cfg.net})')


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


class Base:
    """The base model of --init_from as this graph sees it: each network variable that the
    base holds under the same name and shape (the classifier layer's rows put in this
    run's class order), the rest fresh. Build it inside the graph, after the network."""

    def __init__(self, cfg):
        path, base = base_checkpoint(cfg.init_from)
        check_base(cfg, base)
        base_classes = (base or {}).get('classes') or []
        mapping = class_mapping(cfg.classes, base_classes, cfg.class_map)
        keep_logits = len(mapping) == len(cfg.classes) == len(set(mapping.values()))
        excluded = list(cfg.exclude_scopes or ([] if keep_logits else [LOGITS_SCOPE]))
        self.path, self.reader, self._values = path, tf.train.load_checkpoint(path), {}
        stored = self.reader.get_variable_to_shape_map()
        self.plan, self.fresh, sizes = [], [], {}
        variables = tf.compat.v1.global_variables()
        names = {var.op.name for var in variables}
        for var in variables:
            name = var.op.name
            # An optimizer slot or moving average (net/fc1/weights/Adam) is state about a
            # weight, not a weight: it starts fresh, as a base released without it says.
            if not name.startswith(model.NET_SCOPE + '/') or name.rsplit('/', 1)[0] in names:
                continue
            sizes[name] = var.shape.num_elements()
            if any(name.startswith(scope.rstrip('/') + '/') for scope in excluded) or \
                    stored.get(name) != var.shape.as_list():
                self.fresh.append(name)
            else:
                self.plan.append((var, name))
        if not self.plan:
            raise config.ConfigError(f'--init_from={cfg.init_from}: no variable of this '
                                     f'network is in {path} (another --net?)')
        if (base or {}).get('net', cfg.net) != cfg.net:
            check_lent(cfg, base['net'], sum(sizes[name] for _, name in self.plan),
                       sum(sizes.values()))
        self.order = [mapping[i] for i in range(len(cfg.classes))] if keep_logits else None
        self.said = (f'classes mapped {classes_.describe(cfg.classes, base_classes, mapping)}'
                     if keep_logits else f'classes not all in the base '
                     f'({", ".join(base_classes) or "unknown"}): new classifier layer')

    @property
    def whole(self):
        """At step 0 the network is the base itself: every variable restored, the classifier
        layer too, so its answers before training are the base's."""
        return not self.fresh and self.order is not None

    def value(self, name):
        if name not in self._values:            # read once: the folds mix it in five times
            value = self.reader.get_tensor(name)
            if self.order and name.startswith(LOGITS_SCOPE + '/'):
                value = value[..., self.order]  # the base's rows in this run's class order
            self._values[name] = np.asarray(value)
        return self._values[name]

    def read(self, sess):
        """{name: value} of the restored variables now, read in one run."""
        return dict(zip((name for _, name in self.plan),
                        sess.run([var for var, _ in self.plan])))

    def _load(self, sess, values):
        """Sets every restored variable to values[name] in one run: their initialisers, each
        fed its value (what Variable.load does one by one; a run per variable makes
        TensorFlow prepare a graph per variable, seconds for a deep network)."""
        sess.run([var.initializer for var, _ in self.plan],
                 {var.initializer.inputs[1]: values[name] for var, name in self.plan})

    def load_mix(self, sess, tuned, share):
        """Each restored variable set to `share` of the base's value plus the rest of its
        value in `tuned` ({name: array}); WiSE-FT's average."""
        self._load(sess, {name: tuned[name] + share * (self.value(name) - tuned[name])
                          for _, name in self.plan})

    def restore(self, sess):
        """Runs only for a new training (a resumed one restores its own checkpoint), so the
        base is read, and the line printed, only then."""
        self._load(sess, {name: self.value(name) for _, name in self.plan})
        print(f'Fine-tuning from {self.path}: {len(self.plan)} variables restored, '
              f'{len(self.fresh)} fresh' + (f' ({", ".join(self.fresh)})' if self.fresh else '')
              + f'; {self.said}', flush=True)

    def average_into(self, sess, share):
        """WiSE-FT: each restored variable becomes `share` of the base's value plus the rest
        of its fine-tuned one; a variable training left alone keeps its value exactly."""
        if not share:
            return
        self.load_mix(sess, self.read(sess), share)
        if share == 1.0:          # the folds chose the base: say so, not "averaged"
            print(f'The base\'s weights are put back: all {len(self.plan)} restored '
                  'variables are the base\'s, as the folds chose', flush=True)
            return
        print(f'Averaged with the base: each of the {len(self.plan)} restored variables is '
              f'{share:g} of the base\'s value + {1 - share:g} of the fine-tuned one '
              f'(--base_share; 0 keeps the fine-tuned weights)', flush=True)


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
