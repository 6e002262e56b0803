"""Fine-tuning's policy: its defaults, the base it starts from (a folder or a released
model by name), and what of the base's graph a fine-tuning takes on."""
from core.store import released, runs
from core.store.errors import ConfigError
from core.config.values import same_path


# Fine-tuning starts from a model that already knows faces: gently (a tenth of the net's
# learning rate), briefly, with smoothed labels so that a few photos do not make it sure of
# everything, and half the base's weights mixed back. docs/fine_tuning.md ("The defaults")
# has the measurements behind each.
FINETUNE_LR_FACTOR = 0.1
FINETUNE_EPOCHS = 30
FINETUNE_LABEL_SMOOTHING = 0.1
FINETUNE_BASE_SHARE = 0.5
FINETUNE_FOLDS = 5
# Fewer eval faces than this cannot tell a fine-tuning from its base by a few points: the
# folds judge it on every face instead.
FOLDS_BELOW = 200


def base_folder(init_from):
    """The folder (or checkpoint) --init_from names, a released model's by its name."""
    found = released.find(init_from)
    if not found:
        raise ConfigError(f'--init_from={init_from} is neither a training folder nor a released '
                          f'model (released: {", ".join(released.names()) or "none in models/"})')
    return found


def adopt_base(cfg, explicit):
    """Fine-tuning: the network, its input and how it looks at a face are the base's unless
    a flag says otherwise (finetune.check then names a difference of the graph)."""
    base = runs.of_checkpoint(cfg.init_from) or {}
    for key in runs.BASE_GRAPH + runs.BASE_VIEW:
        if key not in explicit and base.get(key) is not None:
            value = base[key]
            setattr(cfg, key, tuple(value) if isinstance(value, list) else value)


def apply_defaults(cfg, defaults, explicit):
    """Fine-tuning's own defaults for what the flags leave unset."""
    if same_path(cfg.init_from, cfg.train_dir):
        raise ConfigError(f'--init_from={cfg.init_from} is the training folder itself: give the '
                          'fine-tuned model its own --train_dir')
    if cfg.learning_rate is None:
        cfg.learning_rate = defaults.learning_rate * FINETUNE_LR_FACTOR
    if cfg.epochs is None:
        cfg.epochs = FINETUNE_EPOCHS
    if 'label_smoothing' not in explicit:
        cfg.label_smoothing = FINETUNE_LABEL_SMOOTHING
    if cfg.folds == 1:
        raise ConfigError('--folds=1: the folds judge each face by a model trained on the '
                          'others, so at least 2 (or 0 to judge on the eval split)')
    if not 0.0 <= cfg.base_share < 1.0:
        raise ConfigError(f'--base_share={cfg.base_share:g}: the base\'s share of the final '
                          'weights is at least 0 (the fine-tuned weights) and below 1')
