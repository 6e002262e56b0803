"""One run's settings: the flags, filled in from the network's defaults and from
what the training folder recorded (`run.json`), so eval, predict, features
and export need only `--net` and find the rest.

Settings that shape the graph (net, classes, sizes, channels) must agree with
the checkpoint; a disagreement stops with a message that says which flag
differs, instead of a shape error from deep inside TensorFlow.
"""
import dataclasses
import json
import os

import networks
from data import preprocess
from data.faces import SMALLEST_FACE

RUN_FILE = 'run.json'
# Settings the checkpoint depends on; the rest may change between runs.
GRAPH_KEYS = ('net', 'num_classes', 'input_size', 'crop_size', 'channels')


class ConfigError(ValueError):
    """A run that cannot start; str(e) tells the user what to change."""


@dataclasses.dataclass
class RunConfig:
    mode: str = 'train'
    net: str = 'nn_gender'
    data_dir: str = None
    train_dir: str = None
    classes: list = None
    num_classes: int = None
    input_size: tuple = None
    crop_size: tuple = None
    channels: int = None
    eval_crop: str = 'center'
    eval_flip: bool = False             # average the logits of the image and its mirror image
    net_options: dict = None            # extra keyword arguments of the network function
    batch_size: int = None
    optimizer: str = None
    learning_rate: float = None
    lr_schedule: str = 'fixed'
    lr_decay_rate: float = 0.1
    lr_decay_epochs: float = 5.0
    momentum: float = 0.9
    keep_prob: float = None
    weight_decay: float = None
    label_smoothing: float = 0.0
    epochs: int = None
    max_steps: int = 0
    max_minutes: float = 0.0            # time budget of this training run; 0 = none
    log_every: int = 50
    eval_every: int = 0                 # steps; 0 = once per epoch
    keep_checkpoints: int = 3
    seed: int = None
    fresh: bool = False
    cache_mb: int = 4096
    brightness: float = 0.2
    contrast: float = 0.3
    flip: bool = True
    checkpoint: str = 'best'            # best | last | a checkpoint path
    image: str = None
    output: str = None
    uncertain_below: float = 0.6        # predict: lower confidences are printed as uncertain
    annotate: str = None                # predict: folder for annotated copies of the photos
    detect: str = 'on'                  # predict/features: find faces (on) or take the image whole
    smallest_face: int = SMALLEST_FACE  # predict/demo: px, smaller faces are not looked for
    face_size: int = None               # side the faces are aligned at: as the training faces
    margin: float = None                # border around aligned faces: as the training faces
    export_dir: str = None
    quantize: str = 'none'              # export: also write an int8 model (core/quantize.py)
    int8_model: str = None              # eval/predict/demo: the network from this int8 file
    saved_model: str = None             # demo: serve this exported SavedModel, not a checkpoint
    host: str = '127.0.0.1'             # demo: address to listen on
    port: int = 7860                    # demo: port
    max_upload_mb: float = 10.0         # demo: larger uploads are refused
    inter_op_threads: int = 0
    intra_op_threads: int = 0
    # Scale out (core/cluster.py): a ps/worker cluster, and towers in one process.
    ps_hosts: list = None
    worker_hosts: list = None
    job_name: str = None
    task_index: int = 0
    sync_replicas: bool = False          # aggregate every worker's gradients per step
    cluster_timeout: float = 120.0       # s to wait for the other hosts before giving up
    num_clones: int = 1                  # towers splitting each batch
    clone_on_cpu: bool = False           # towers on the CPU when there are no GPUs

    @property
    def image_spec(self):
        return preprocess.ImageSpec(tuple(self.input_size), tuple(self.crop_size), self.channels,
                                    self.eval_crop, self.brightness, self.contrast, self.flip)

    def graph_settings(self):
        return {key: _plain(getattr(self, key)) for key in GRAPH_KEYS}


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def parse_size(text):
    """'80' -> (80, 80); '96x128' -> (96, 128) as (height, width)."""
    if text is None or isinstance(text, (tuple, list)):
        return tuple(text) if text else None
    parts = str(text).lower().split('x')
    try:
        size = tuple(int(p) for p in parts)
    except ValueError:
        raise ConfigError(f'cannot read size {text!r}: use 80 or HEIGHTxWIDTH like 96x128') from None
    if len(size) == 1:
        size = size * 2
    if len(size) != 2 or min(size) < 8:
        raise ConfigError(f'cannot read size {text!r}: use 80 or HEIGHTxWIDTH like 96x128')
    return size


def parse_options(items):
    """['init=glorot', 'width=2'] -> {'init': 'glorot', 'width': 2}."""
    if isinstance(items, dict) or not items:
        return dict(items or {})
    options = {}
    for item in items:
        key, sep, value = item.partition('=')
        if not sep:
            raise ConfigError(f'--net_options wants key=value pairs, got {item!r}')
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value.strip()
    return options


def read_run_file(train_dir):
    path = os.path.join(train_dir, RUN_FILE)
    if os.path.isfile(path):
        with open(path) as f:
            return json.load(f)
    return None


def _read_export_file(export_dir):
    """The settings an exported SavedModel was made with (its model.json)."""
    path = os.path.join(export_dir, 'model.json')
    if not os.path.isfile(path):
        raise ConfigError(f'{export_dir} is not an export of this platform (no model.json): '
                          'make one with --mode=export')
    with open(path) as f:
        return json.load(f)


def write_run_file(cfg):
    os.makedirs(cfg.train_dir, exist_ok=True)
    record = cfg.graph_settings()
    record.update(classes=cfg.classes, data_dir=cfg.data_dir, eval_crop=cfg.eval_crop,
                  eval_flip=cfg.eval_flip,
                  net_options=cfg.net_options, face_size=cfg.face_size, margin=cfg.margin)
    with open(os.path.join(cfg.train_dir, RUN_FILE), 'w') as f:
        json.dump(record, f, indent=1)


def resolve(values, explicit):
    """Builds the RunConfig from flag `values` (a dict) and the names the user set.

    Order of precedence: flags the user set > the training folder's run.json >
    the dataset's description > the network's defaults.
    """
    cfg = RunConfig(**{k: v for k, v in values.items() if k in RunConfig.__dataclass_fields__})
    cfg.input_size, cfg.crop_size = parse_size(cfg.input_size), parse_size(cfg.crop_size)
    cfg.net_options = parse_options(cfg.net_options)
    try:
        net = networks.get(cfg.net)
    except KeyError as e:
        raise ConfigError(e.args[0]) from None
    cfg.train_dir = cfg.train_dir or os.path.join('checkpoints', cfg.net)
    recorded = None if (cfg.mode == 'train' and cfg.fresh) else read_run_file(cfg.train_dir)
    if cfg.saved_model:
        recorded = _read_export_file(cfg.saved_model)

    if recorded:
        for key in GRAPH_KEYS:
            mine, theirs = _plain(getattr(cfg, key)), recorded.get(key)
            if key in explicit or key == 'net':
                if mine is not None and mine != theirs:
                    hint = ('use another --train_dir, or --fresh to start over'
                            if cfg.mode == 'train' else 'use the --train_dir of a matching run')
                    raise ConfigError(
                        f'{cfg.train_dir} holds a model trained with --{key}={_show(theirs)}, '
                        f'not --{key}={_show(mine)}: {hint}')
            else:
                setattr(cfg, key, tuple(theirs) if isinstance(theirs, list) else theirs)
        cfg.classes = recorded.get('classes')
        if 'data_dir' not in explicit:
            cfg.data_dir = cfg.data_dir or recorded.get('data_dir')
        for key in ('eval_crop', 'eval_flip', 'net_options', 'face_size', 'margin'):
            if key not in explicit:
                setattr(cfg, key, recorded.get(key, getattr(cfg, key)))

    if cfg.data_dir and cfg.mode in ('train', 'eval') and not cfg.classes:
        from data.records import read_meta
        try:
            meta = read_meta(cfg.data_dir)
        except FileNotFoundError as e:
            raise ConfigError(str(e)) from None
        cfg.classes = meta['classes']
        if cfg.num_classes not in (None, meta['num_classes']):
            raise ConfigError(f'--num_classes={cfg.num_classes} but {cfg.data_dir} has '
                              f'{meta["num_classes"]} classes ({", ".join(meta["classes"])})')
        cfg.num_classes = meta['num_classes']

    d = net.defaults
    for key in ('input_size', 'crop_size', 'channels', 'batch_size', 'optimizer',
                'learning_rate', 'keep_prob', 'epochs', 'weight_decay'):
        if getattr(cfg, key) is None:
            setattr(cfg, key, getattr(d, key))
    if 'input_size' in explicit and 'crop_size' not in explicit and not recorded:
        # Keep the network's crop ratio (80 of 100 for nn_gender) at the new size.
        ratio_h, ratio_w = (c / i for c, i in zip(d.crop_size, d.input_size))
        cfg.crop_size = (round(cfg.input_size[0] * ratio_h), round(cfg.input_size[1] * ratio_w))
    if any(c > i for c, i in zip(cfg.crop_size, cfg.input_size)):
        raise ConfigError(f'--crop_size={_show(cfg.crop_size)} is larger than '
                          f'--input_size={_show(cfg.input_size)}')
    _check_towers(cfg)
    _face_geometry_from_dataset(cfg)
    if cfg.num_classes is None and cfg.classes:
        cfg.num_classes = len(cfg.classes)
    if cfg.num_classes is None:
        raise ConfigError(f'no trained model in {cfg.train_dir} and no --data_dir to learn the '
                          'classes from: train first, or give --data_dir / --train_dir')
    cfg.classes = cfg.classes or [str(i) for i in range(cfg.num_classes)]
    return cfg


def _check_towers(cfg):
    if cfg.num_clones <= 1 or cfg.mode != 'train':
        return
    if cfg.batch_size % cfg.num_clones:
        raise ConfigError(f'--batch_size={cfg.batch_size} does not split into '
                          f'--num_clones={cfg.num_clones} equal towers')
    import tensorflow as tf
    gpus = len(tf.config.list_physical_devices('GPU'))
    if not cfg.clone_on_cpu and gpus < cfg.num_clones:
        raise ConfigError(f'--num_clones={cfg.num_clones} needs as many GPUs (this machine has '
                          f'{gpus}); add --clone_on_cpu to run the towers on the CPU')


def _face_geometry_from_dataset(cfg):
    """Faces found in photos are aligned at the size and margin of the training faces."""
    meta = {}
    if cfg.data_dir and (cfg.face_size is None or cfg.margin is None):
        from data.records import read_meta
        try:
            meta = read_meta(cfg.data_dir)
        except FileNotFoundError:
            pass                                 # data moved or gone: fall back below
    typical = meta.get('typical_size')
    if cfg.face_size is None:
        square = typical and typical[0] == typical[1]
        cfg.face_size = typical[0] if square else cfg.input_size[0]
    if cfg.margin is None:
        cfg.margin = meta.get('faces', {}).get('margin', 0.0)


def _show(value):
    if isinstance(value, (list, tuple)):
        return 'x'.join(str(v) for v in value)
    return value
