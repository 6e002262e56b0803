"""Flags that cannot work, refused in one line before any work: paths that do not exist,
flags the chosen network or mode would not read, mixings that do not combine, towers
without their devices."""
import os

import networks
from core import modes
from core.config import finetuning
from core.config.schema import RunConfig
from core.store import released
from core.store.errors import ConfigError


# Flags that name something on disk, checked before any work ('data_dir' may be a CSV).
PATH_FLAGS = ('data_dir', 'image', 'mix_data', 'saved_model', 'int8_model', 'generator_dir')
LIST_PATH_FLAGS = ('teacher', 'ensemble')


def check_before_work(values):
    """One line for a flag that cannot work, before anything is prepared or written: an
    unknown network, a path that does not exist, a base that is neither a folder nor a
    released model."""
    check_not_released(values)
    if values.get('net') not in networks.names():
        raise ConfigError(f'--net={values.get("net")}: no such network (networks: '
                          f'{", ".join(networks.names())})')
    for flag in PATH_FLAGS:
        if values.get(flag) and not os.path.exists(values[flag]):
            raise ConfigError(f'--{flag}={values[flag]} does not exist')
    for flag in LIST_PATH_FLAGS:
        missing = [p for p in values.get(flag) or () if not os.path.exists(p)]
        if missing:
            raise ConfigError(f'--{flag}: {missing[0]} does not exist')
    if values.get('init_from'):
        from core import checkpoints      # TensorFlow: only when a base is given
        base = finetuning.base_folder(values['init_from'])
        # A damaged base stops here, before the new training folder is made.
        checkpoints.verify(checkpoints.choose(base, 'best') if os.path.isdir(base) else base)


def check_mixing(cfg, mode):
    """Mixup, CutMix and --mix_data combine only with what they can mix."""
    if mode.trains and cfg.mixup_alpha and cfg.cutmix_alpha:
        raise ConfigError('--mixup_alpha and --cutmix_alpha: choose one of the two mixings')
    if mode.trains and (cfg.mixup_alpha or cfg.cutmix_alpha):
        for flag in ('teacher', 'aux_tasks'):    # their targets are not mixed
            if getattr(cfg, flag):
                raise ConfigError(f'--{flag} does not combine with --mixup_alpha or '
                                  '--cutmix_alpha (the soft targets and attributes are not mixed)')


def check_kind_of_net(net, mode):
    kind = 'gan' if net.is_gan else 'classifier'
    if mode.nets not in ('any', kind):
        if net.is_gan:
            raise ConfigError(f'{net.name} is a generator pair, not a classifier: --mode='
                              f'{mode.name} is for classifiers (its modes: train, generate, '
                              'features; its figures: python bench/gan.py)')
        raise ConfigError(f'--mode={mode.name} needs a generator pair (--net=dcgan); '
                          f'{net.name} is a classifier')


def check_flags_are_read(net, mode, explicit):
    """A flag the chosen network or mode would not read is refused, not silently ignored:
    each setting's readers are declared with it (schema.py)."""
    for name in sorted(explicit):
        field = RunConfig.__dataclass_fields__.get(name)
        readers = field.metadata.get('readers') if field else None
        refusal = readers and readers.refusal(name, mode, net)
        if refusal:
            raise ConfigError(refusal)


def check_towers(cfg):
    if cfg.num_clones <= 1 or not modes.get(cfg.mode).trains:
        return
    if cfg.batch_size % cfg.num_clones:
        raise ConfigError(f'--batch_size={cfg.batch_size} does not split into '
                          f'--num_clones={cfg.num_clones} equal towers')
    gpus = sees_gpu()
    if not cfg.clone_on_cpu and gpus < cfg.num_clones:
        raise ConfigError(f'--num_clones={cfg.num_clones} needs as many GPUs (this machine has '
                          f'{gpus}); add --clone_on_cpu to run the towers on the CPU')


def sees_gpu():
    """How many GPUs TensorFlow sees (imported here: a config error needs no TensorFlow)."""
    import tensorflow as tf
    return len(tf.config.list_physical_devices('GPU'))



def check_not_released(values):
    """models/ holds the shipped models: no training, resumed, fresh or fine-tuned, writes
    there (a release is made by tools.release, whole, once)."""
    train_dir = values.get('train_dir')
    if not (train_dir and modes.get(values.get('mode') or 'train').trains
            and released.is_released(train_dir)):
        return
    name = released.name_of(train_dir)
    base = released.DEFAULT if name == '.' else name
    raise ConfigError(f'--train_dir={train_dir} is inside models/, which holds the released '
                      'models and is never trained into: to train from one, python runner.py '
                      f'--data_dir=<your photos> --init_from={base} --train_dir=checkpoints/mine')
