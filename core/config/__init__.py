"""One run's settings: the flags, filled in from the network's defaults and from
what the training folder recorded (`run.json`), so eval, predict, features
and export need only `--net` and find the rest.

Settings that shape the graph (net, classes, sizes, channels) must agree with
the checkpoint; a disagreement stops with a message that says which flag
differs, instead of a shape error from deep inside TensorFlow.

Here: the order of precedence (`resolve`). Beside it, one job each: schema.py (every
setting, its default and help), values.py (sizes, options, how a value is shown),
checks.py (what is refused before any work), finetuning.py (fine-tuning's policy and its
base), dataset.py (what the data says: classes, faces).
"""
import os

import networks
from common import jsonfile
from common.settings import pick
from core import modes, precision
from core.config import checks, dataset, finetuning
from core.config.checks import check_before_work  # noqa: F401
from core.config.finetuning import (FINETUNE_BASE_SHARE, FINETUNE_LABEL_SMOOTHING,  # noqa: F401
                                    FOLDS_BELOW)
from core.config.schema import Draft, RunConfig, finished
from core.config.values import parse_options, parse_size, plain, show  # noqa: F401
from core.store import lite, released, runs
from core.store.errors import ConfigError  # noqa: F401  (config.ConfigError, as callers use it)
from data.prepare import FaceSettings
from data.sources import SourceSettings

LITE_PRECISION = ('the model\'s TFLite files answer, without TensorFlow (--backend=tf '
                  'for TensorFlow)')


def _read_export_file(export_dir):
    """The settings an exported SavedModel was made with (its model.json)."""
    path = os.path.join(export_dir, 'model.json')
    if not os.path.isfile(path):
        raise ConfigError(f'{export_dir} is not an export of this platform (no model.json): '
                          'make one with --mode=export')
    return jsonfile.read(path)


def write_run_file(cfg):
    runs.write(cfg.train_dir, cfg.record())


def resolve(values, explicit):
    """Builds the RunConfig from flag `values` (a dict) and the names the user set.

    Order of precedence: flags the user set > the training folder's run.json >
    the dataset's description > the network's defaults.
    """
    cfg = _from_flags(values, explicit)
    mode = modes.get(cfg.mode)
    _find_models(cfg, mode, explicit)
    if cfg.init_from and mode.trains:
        finetuning.adopt_base(cfg, explicit)
    if cfg.net not in networks.names():
        raise ConfigError(networks.unknown(cfg.net))
    cfg.train_dir = cfg.train_dir or os.path.join('checkpoints', cfg.net)
    recorded = None if (mode.trains and cfg.fresh) else runs.read(cfg.train_dir)
    if cfg.saved_model:
        recorded = _read_export_file(cfg.saved_model)
    if recorded:
        _adopt_recorded(cfg, recorded, mode, explicit)
    _choose_backend(cfg, mode)
    # The recorded net when --net was not given; a model answering from its TFLite files is
    # a classifier whose settings are all recorded: its module (TensorFlow) is not needed.
    net = networks.Network(cfg.net, None, None) if cfg.backend == 'lite' else networks.get(cfg.net)
    checks.check_kind_of_net(net, mode)
    checks.check_flags_are_read(net, mode, explicit)
    checks.check_mixing(cfg, mode)
    dataset.classes_from_data(cfg, mode)
    _apply_net_defaults(cfg, net, mode, explicit, recorded)
    _validate(cfg, mode)
    _decide_precision(cfg, net)
    return finished(cfg)


def _choose_backend(cfg, mode):
    """--backend=auto made 'lite' where the model answers from its TFLite files as
    TensorFlow would (core/store/lite.py), 'tf' elsewhere; --backend=lite without them is
    refused. Modes that do not read --backend answer through TensorFlow."""
    if cfg.mode not in lite.MODES or cfg.backend == 'tf':
        cfg.backend = 'tf'
        return
    reason = lite.why_not(cfg)
    if reason and cfg.backend == 'lite':
        raise ConfigError(f'--backend=lite: {reason}')
    if reason and lite.present(cfg.train_dir):
        print(f'note: answering through TensorFlow: {reason}', flush=True)
    cfg.backend = 'tf' if reason else 'lite'


def _decide_precision(cfg, net):
    """--precision=auto made bf16 or fp32 for this machine (never taken from run.json: a
    checkpoint answers in either); bf16 where it would be slower is refused. TFLite
    answers in float32."""
    if cfg.backend == 'lite':
        cfg.precision, cfg.precision_why = 'fp32', LITE_PRECISION
        return
    gpus = checks.sees_gpu() if cfg.precision != 'fp32' else 0
    try:
        cluster = bool(cfg.ps_hosts or cfg.worker_hosts or cfg.job_name
                       or os.environ.get('TF_CONFIG'))
        choice = precision.decide(cfg.precision, gpus, cluster, net)
    except precision.Unsupported as e:
        raise ConfigError(str(e)) from None
    cfg.precision, cfg.precision_why = choice.name, choice.why


def _from_flags(values, explicit):
    """The RunConfig of the flags alone, sizes and options parsed."""
    unknown = sorted(set(values) - set(RunConfig.__dataclass_fields__)
                     - set(FaceSettings.__dataclass_fields__)
                     - set(SourceSettings.__dataclass_fields__))
    if unknown:      # a flag that nothing reads would be silently ignored
        raise ConfigError(f'no setting is called {", ".join(unknown)}')
    cfg = Draft(**pick(RunConfig, values))
    for key in ('face_size', 'margin'):     # unset: as the training faces were stored
        if key not in explicit:
            setattr(cfg, key, None)
    cfg.input_size, cfg.crop_size = parse_size(cfg.input_size), parse_size(cfg.crop_size)
    cfg.net_options = parse_options(cfg.net_options)
    return cfg


def _adopt_recorded(cfg, recorded, mode, explicit):
    """What the training folder (or export) recorded, unless a flag said it; a flag that
    contradicts the model's graph is refused."""
    hint = ('use another --train_dir, or --fresh to start over' if mode.trains
            else 'use the --train_dir of a matching run')
    for key in runs.GRAPH:
        mine, theirs = plain(getattr(cfg, key)), recorded.get(key)
        if key == 'net_options':
            if theirs is None:
                continue
            mine = {**theirs, **mine}   # options not given again are the record's
        if key in explicit and mine is not None and mine != theirs:
            raise ConfigError(f'{cfg.train_dir} holds a model trained with --{key}='
                              f'{show(theirs)}, not --{key}={show(mine)}: {hint}')
        setattr(cfg, key, tuple(theirs) if isinstance(theirs, list) else theirs)
    cfg.classes = recorded.get('classes')
    cfg.trained_on = recorded.get('data_dir')
    if 'data_dir' not in explicit:
        cfg.data_dir = cfg.data_dir or recorded.get('data_dir')
    dataset.check_same_data(cfg, recorded, mode)
    for key in (k for k in runs.ANSWERS if k != 'classes'):    # the classes: the model's
        if key not in explicit:
            setattr(cfg, key, recorded.get(key, getattr(cfg, key)))


def _apply_net_defaults(cfg, net, mode, explicit, recorded):
    """The network's defaults (its CPU ones without a GPU) for what is still unset;
    fine-tuning's own defaults when training from a base."""
    d = net.defaults
    if d is None:                    # answering from TFLite files: everything is recorded
        return
    if d.cpu and not checks.sees_gpu():      # asked only then: most errors come without TensorFlow
        d, cfg.cpu_sized = d.for_device(gpu=False), True
    if cfg.init_from and mode.trains:
        finetuning.apply_defaults(cfg, d, explicit)
    elif mode.trains and {'base_share', 'exclude_scopes'} & explicit:
        flag = min({'base_share', 'exclude_scopes'} & explicit)
        raise ConfigError(f'--{flag} is for fine-tuning: give --init_from=<base> too')
    elif not recorded:               # a new run: the net's options under the user's
        cfg.net_options = {**d.net_options, **cfg.net_options}
    for key in ('input_size', 'crop_size', 'channels', 'batch_size', 'optimizer',
                'learning_rate', 'keep_prob', 'epochs', 'weight_decay'):
        if getattr(cfg, key) is None:
            setattr(cfg, key, getattr(d, key))
    if 'input_size' in explicit and 'crop_size' not in explicit and not recorded:
        # Keep the network's crop ratio (80 of 100 for nn_gender) at the new size.
        ratio_h, ratio_w = (c / i for c, i in zip(d.crop_size, d.input_size))
        cfg.crop_size = (round(cfg.input_size[0] * ratio_h), round(cfg.input_size[1] * ratio_w))


def need_text(need, cfg):
    return modes.need_text(need, cfg.net, released.DEFAULT)


def _validate(cfg, mode):
    """The recipe holds together, and the mode has what it needs."""
    if any(c > i for c, i in zip(cfg.crop_size, cfg.input_size)):
        raise ConfigError(f'--crop_size={show(cfg.crop_size)} is larger than '
                          f'--input_size={show(cfg.input_size)}')
    colour = [flag for flag in ('saturation', 'hue', 'grayscale') if getattr(cfg, flag)]
    if colour and cfg.channels == 1 and mode.trains:
        raise ConfigError(f'--{colour[0]} changes colours, but {cfg.net} sees grey faces '
                          f'(--channels=1)')
    checks.check_towers(cfg)
    dataset.face_geometry(cfg)
    if cfg.num_classes is None and cfg.classes:
        cfg.num_classes = len(cfg.classes)
    missing = [need for need in mode.needs if not getattr(cfg, need)]
    if missing:
        raise ConfigError(f'--mode={cfg.mode} needs {need_text(missing[0], cfg)}')
    if cfg.num_classes is None:
        raise ConfigError(
            f'no trained model in {cfg.train_dir} yet (give --train_dir of a trained model, '
            f'or train first). Training needs {need_text("data_dir", cfg)}')
    cfg.classes = cfg.classes or [str(i) for i in range(cfg.num_classes)]


def _find_models(cfg, mode, explicit):
    """--init_from and --train_dir take a folder or a released model's name. With neither
    --train_dir nor a model of --net in checkpoints/, the default released model answers."""
    if cfg.init_from:
        cfg.init_from = finetuning.base_folder(cfg.init_from)
    if cfg.train_dir and not mode.trains:
        cfg.train_dir = released.find(cfg.train_dir) or cfg.train_dir
    if mode.trains or cfg.train_dir or cfg.saved_model or mode.nets == 'gan':
        return
    model = released.default()
    if not model or runs.read(os.path.join('checkpoints', cfg.net)):
        return
    theirs = runs.read(model)
    if 'net' in explicit and cfg.net != theirs['net']:
        return
    cfg.train_dir = model
    print(f'No --train_dir: the released model {released.DEFAULT} answers ({theirs["net"]}, '
          f'{", ".join(theirs["classes"])}; {os.path.join(model, released.CARD)})', flush=True)
