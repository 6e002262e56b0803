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
from common import jsonfile
from common.settings import pick, section, setting
from core import checkpoints, modes
from core.store import released, runs
from core.store.errors import ConfigError
from data import preprocess
from data.faces import SMALLEST_FACE
from data.prepare import FaceSettings
from data.sources import SourceSettings


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


@dataclasses.dataclass
class RunConfig:
    """Every setting of a run. A field made with `setting` is also a runner.py flag (its
    default and help written here only); the others are filled in by `resolve`."""
    section('What and where')
    mode: str = setting('train', 'What to do: ' + '; '.join(
        f'{m.name}: {m.help}' for m in modes.MODES.values()) + '.', choices=modes.names())
    net: str = setting('nn_gender', 'Network module (networks/): '
                       + ', '.join(networks.names()) + '.')
    data_dir: str = setting(None, 'A folder of labelled photos (class folders), which is '
                            'prepared first (faces found, filtered, aligned) into '
                            '--prepared_dir; or a dataset made by data.convert or data.prepare. '
                            'Remembered by the training folder.')
    prepared_dir: str = setting(None, 'Where photos from --data_dir are prepared (default '
                                'records/<name of the photo folder>).')
    train_dir: str = setting(None, 'Checkpoints, summaries and reports (default '
                             'checkpoints/<net>/).')
    fresh: bool = setting(False, 'Start training over; the previous run is moved aside.')
    section('The network (defaults come from the network module)')
    num_classes: int = setting(None, 'Number of classes (default: from the dataset).',
                               lower_bound=2)
    input_size: tuple = setting(None, 'Images are resized to this: 100 or HEIGHTxWIDTH.')
    crop_size: tuple = setting(None, 'The network sees crops of this size: 80 or HxW.')
    channels: int = setting(None, '1 for grayscale, 3 for colour.', lower_bound=1, upper_bound=3)
    net_options: list = setting(None, 'Extra keyword options of the network, e.g. init=glorot '
                                '(a list of key=value).')
    eval_crop: str = setting('center', 'Eval/predict view: the centre crop, or the whole image '
                             'resized to the crop size.', choices=['center', 'resize'])
    eval_flip: bool = setting(False, 'Eval/predict/export: average the logits of each face and '
                              'its mirror image (recorded at training, like --eval_crop).')
    section('Training')
    batch_size: int = setting(None, 'Images per step.', lower_bound=1)
    optimizer: str = setting(None, 'Optimizer.', choices=['adam', 'momentum', 'rmsprop', 'sgd'])
    learning_rate: float = setting(None, 'Initial learning rate.', above=0)
    lr_schedule: str = setting('fixed', 'Learning-rate schedule.',
                               choices=['fixed', 'exponential', 'step', 'cosine'])
    lr_decay_rate: float = setting(0.1, 'exponential/step: factor per --lr_decay_epochs.', above=0)
    lr_decay_epochs: float = setting(5.0, 'exponential/step: epochs per decay.', above=0)
    momentum: float = setting(0.9, 'Momentum of the momentum and rmsprop optimizers.',
                              lower_bound=0, below=1)
    keep_prob: float = setting(None, 'Dropout keep probability in training.',
                               above=0, upper_bound=1)
    weight_decay: float = setting(None, 'L2 weight decay.', lower_bound=0)
    label_smoothing: float = setting(0.0, 'Label smoothing of the cross-entropy.',
                                     lower_bound=0, below=1)
    epochs: int = setting(None, 'Epochs to train (ignored when --max_steps is set).',
                          lower_bound=1)
    max_steps: int = setting(0, 'Train up to this global step (0 = use --epochs).', lower_bound=0)
    max_minutes: float = setting(0.0, 'Time budget: stop (checkpoint, eval) after this many '
                                 'minutes of training; a cosine schedule then decays to zero '
                                 'at the budget\'s end. 0 = no budget.', lower_bound=0)
    brightness: float = setting(0.2, 'Augmentation: max brightness change (0-1 scale).',
                                lower_bound=0, upper_bound=1)
    contrast: float = setting(0.3, 'Augmentation: contrast factor range 1 +- this.',
                              lower_bound=0, below=1)
    flip: bool = setting(True, 'Augmentation: random horizontal flips.')
    saturation: float = setting(0.0, 'Augmentation of colour nets: saturation factor range '
                                '1 +- this, e.g. 0.5.', lower_bound=0, below=1)
    hue: float = setting(0.0, 'Augmentation of colour nets: max hue shift as a fraction of the '
                         'colour circle, e.g. 0.05.', lower_bound=0, upper_bound=0.5)
    grayscale: float = setting(0.0, 'Augmentation of colour nets: probability of turning a '
                               'training face grey (for black-and-white photos), e.g. 0.1.',
                               lower_bound=0, upper_bound=1)
    random_erasing: float = setting(0.0, 'Augmentation: probability of filling a random '
                                    'rectangle (2-40% of the face) with noise.',
                                    lower_bound=0, upper_bound=1)
    hide_hair: float = setting(0.0, 'Augmentation: probability of greying out the hair: '
                               'above the brows, or all but the inner face (half the time '
                               'each), so the face itself must carry the answer, e.g. 0.3.',
                               lower_bound=0, upper_bound=1)
    balance: float = setting(0.0, 'Group-balanced sampling over race x class x age band (as '
                             'the records carry them): a face is drawn in proportion to '
                             'n^-balance, n its group\'s size; 1 = every group as often, '
                             '0.5 = by the square root, 0 = off.', lower_bound=0, upper_bound=1)
    mixup_alpha: float = setting(0.0, 'Mixup: blend each training batch with a shuffled copy '
                                 'of itself, share ~ Beta(alpha, alpha), e.g. 0.2; 0 = off.',
                                 lower_bound=0)
    cutmix_alpha: float = setting(0.0, 'CutMix: paste a rectangle of a shuffled partner into '
                                  'each training face, area ~ Beta(alpha, alpha), e.g. 1.0; '
                                  '0 = off.', lower_bound=0)
    section('Fine-tuning from a base model (core/train/finetune.py)')
    init_from: str = setting(None, 'Start a new training from this trained run (a train_dir, '
                             'or a checkpoint path): every variable of the same name and shape '
                             'is restored at step 0; the classifier layer starts fresh when the '
                             'classes differ. Net, sizes and channels must match the base. '
                             f'Unless given: {FINETUNE_LR_FACTOR:g} of the net\'s learning rate, '
                             f'{FINETUNE_EPOCHS} epochs, label smoothing '
                             f'{FINETUNE_LABEL_SMOOTHING:g}; the model kept is averaged with '
                             'the base (--base_share).')
    base_share: float = setting(FINETUNE_BASE_SHARE, 'With --init_from: when training ends, '
                                'each restored weight becomes this share of the base\'s value '
                                'plus the rest of the fine-tuned one (WiSE-FT); 0 keeps the '
                                'fine-tuned weights.', lower_bound=0, below=1)
    folds: int = setting(FINETUNE_FOLDS, 'With --init_from and fewer than '
                         f'{FOLDS_BELOW} eval faces: judge fine-tuning by this many folds over '
                         'every face (each answered by a model that did not train on it), keep '
                         'the share of the base\'s weights they choose (the base itself when '
                         'fine-tuning did not beat it beyond chance; --base_share is then not used), calibrate '
                         'on their answers and train on all the faces; 0 = off.',
                         lower_bound=0)
    exclude_scopes: list = setting(None, 'With --init_from: variable scopes left freshly '
                                   'initialised, e.g. net/logits (default: the classifier '
                                   'layer when the classes differ from the base).')
    trainable_scopes: list = setting(None, 'Train only the variables in these scopes, e.g. '
                                     'net/fc1,net/logits (default: all).')
    class_map: list = setting(None, 'With --init_from: this dataset\'s class names as the '
                              'base\'s, e.g. man=male,woman=female (default: same names, '
                              'case-insensitive, and man/woman as male/female).')
    section('More data, more heads, averaging, distillation')
    mix_data: str = setting(None, 'Also train on this converted dataset (e.g. the base\'s own '
                            'faces when fine-tuning): --mix_share of every batch comes from it, '
                            'its classes matched to this dataset\'s by name like --class_map.')
    mix_share: float = setting(0.5, 'With --mix_data: the share of each batch drawn from it.',
                               above=0, below=1)
    aux_tasks: list = setting(None, 'Auxiliary heads on the shared features, learning '
                              'attributes the records carry: age (decades), race (UTKFace). '
                              'Their losses are added with --aux_weight; the main task is '
                              'what is evaluated.')
    aux_weight: float = setting(0.3, 'Weight of each auxiliary head\'s loss.', lower_bound=0)
    moving_average_decay: float = setting(None, 'Keep an exponential moving average of the '
                                          'weights with this decay (e.g. 0.999): eval, '
                                          'predict, export and int8 use the averaged weights.',
                                          above=0, below=1)
    teacher: list = setting(None, 'Distillation: trained runs (train_dirs) whose flip-averaged, '
                            'softened probabilities on each training face become its soft '
                            'targets (core/train/distill.py); same classes as this run.')
    distill_weight: float = setting(0.5, 'With --teacher: weight of the soft targets\' loss '
                                    '(the labels\' gets 1 - this).', lower_bound=0, upper_bound=1)
    distill_temperature: float = setting(2.0, 'With --teacher: temperature that softens the '
                                         'teachers\' and the student\'s probabilities.', above=0)
    ensemble: list = setting(None, 'eval: also these trained runs; the mean of their and '
                             '--train_dir\'s probabilities is reported as one model.')
    seed: int = setting(None, 'Random seed of the graph, the shuffles and the augmentation: the '
                        'same seed and flags give the same run on the same machine.')
    section('Bookkeeping')
    log_every: int = setting(50, 'Log and write summaries every N steps.', lower_bound=1)
    eval_every: int = setting(0, 'Evaluate and checkpoint every N steps (0 = every epoch).',
                              lower_bound=0)
    keep_checkpoints: int = setting(3, 'How many recent checkpoints to keep.', lower_bound=1)
    cache_mb: int = setting(4096, 'Cache decoded images in memory when they fit in this.',
                            lower_bound=0)
    checkpoint: str = setting('best', 'eval/predict/features/export: best, last, or a path.')
    inter_op_threads: int = setting(0, 'TensorFlow inter-op threads (0 = automatic).',
                                    lower_bound=0)
    intra_op_threads: int = setting(0, 'TensorFlow intra-op threads (0 = automatic).',
                                    lower_bound=0)
    section('Eval, predict, features, export, demo, generate')
    image: str = setting(None, 'predict/features: an image file or a folder of images.')
    output: str = setting(None, 'predict: CSV file of the results; features: output folder.')
    annotate: str = setting(None, 'predict: write copies of the photos with labelled face '
                            'boxes here (and a grid of them all for a folder).')
    uncertain_below: float = setting(0.6, 'predict: a face whose calibrated confidence is '
                                     'below this is printed as uncertain.',
                                     lower_bound=0, upper_bound=1)
    smallest_face: int = setting(SMALLEST_FACE, 'predict/demo: smallest face looked for, px '
                                 '(short side). Detection runs on a copy scaled to it: lower '
                                 'finds smaller faces, slower.', lower_bound=1)
    export_dir: str = setting(None, 'export: SavedModel folder (default '
                              '<train_dir>/export/<step>).')
    quantize: str = setting('none', 'export: also write model_int8.tflite, the network in int8 '
                            'for CPUs (its accuracy against fp32 is measured on the eval '
                            'split).', choices=['none', 'int8'])
    int8_model: str = setting(None, 'eval/predict/demo: run the network from this int8 model '
                              '(--mode=export --quantize=int8) instead of fp32.')
    saved_model: str = setting(None, 'demo: serve this exported SavedModel folder instead of '
                               'the best checkpoint.')
    label: str = setting(None, 'generate: the class of the faces to make (default: every '
                         'class).')
    count: int = setting(16, 'generate: faces to make of each class.', lower_bound=1)
    truncation: float = setting(1.0, 'generate/demo: the generator\'s noise scaled by this '
                                '(the truncation trick): below 1, more typical faces of the '
                                'class, less varied.', above=0)
    generator_dir: str = setting(None, 'demo: the training folder of a face generator '
                                 '(--net=dcgan), for the "Make a face" tab.')
    host: str = setting('127.0.0.1', 'demo: address to listen on (0.0.0.0 = every network '
                        'interface; mind who can reach it).')
    port: int = setting(7860, 'demo: port to listen on.', lower_bound=0, upper_bound=65535)
    max_upload_mb: float = setting(10.0, 'demo: uploads larger than this are refused.', above=0)
    section('Scale out (core/run/cluster.py): a ps/worker cluster, towers in one process')
    ps_hosts: list = setting(None, 'Cluster: parameter servers, host:port,...')
    worker_hosts: list = setting(None, 'Cluster: workers, host:port,... (the first is the '
                                 'chief: it evaluates and writes checkpoints and summaries).')
    job_name: str = setting(None, 'Cluster: the job of this process.', choices=['ps', 'worker'])
    task_index: int = setting(0, 'Cluster: index of this process within its job.', lower_bound=0)
    sync_replicas: bool = setting(False, 'Cluster: average every worker\'s gradients each step '
                                  '(default: asynchronous updates).')
    cluster_timeout: float = setting(120.0, 'Cluster: seconds to wait for the other hosts.',
                                     above=0)
    num_clones: int = setting(1, 'Towers that split each batch and average their gradients '
                              '(one per GPU).', lower_bound=1)
    clone_on_cpu: bool = setting(False, 'Put the --num_clones towers on the CPU.')
    # Filled in by resolve, not flags
    classes: list = None
    detect: str = 'on'           # predict/features: as faces.detect (a FaceSettings flag)
    face_size: int = None        # side photos' faces are aligned at: as the training faces
    margin: float = None         # border around aligned faces: as the training faces
    trained_on: str = None       # the data_dir the model was trained on (run.json)
    train_splits: tuple = ('train',)   # the splits trained on (all of them after the folds)
    fold: tuple = None           # (i, k): trains on the faces outside fold i of k
    cpu_sized: bool = False      # the net's defaults for a machine without a GPU applied

    @property
    def image_spec(self):
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(preprocess.ImageSpec)}
        fields.update(input_size=tuple(self.input_size), crop_size=tuple(self.crop_size))
        return preprocess.ImageSpec(**fields)

    @property
    def averaged(self):
        """Inference uses the moving averages of the weights (--moving_average_decay)."""
        return bool(self.moving_average_decay)

    def graph_settings(self):
        return {key: plain(getattr(self, key)) for key in runs.GRAPH}

    def record(self):
        """The whole resolved configuration, as run.json keeps it."""
        return {f.name: plain(getattr(self, f.name)) for f in dataclasses.fields(self)}


def plain(value):
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


def _read_export_file(export_dir):
    """The settings an exported SavedModel was made with (its model.json)."""
    path = os.path.join(export_dir, 'model.json')
    if not os.path.isfile(path):
        raise ConfigError(f'{export_dir} is not an export of this platform (no model.json): '
                          'make one with --mode=export')
    return jsonfile.read(path)


def write_run_file(cfg):
    runs.write(cfg.train_dir, cfg.record())


# Flags that name something on disk, checked before any work ('data_dir' may be a CSV).
PATH_FLAGS = ('data_dir', 'image', 'mix_data', 'saved_model', 'int8_model', 'generator_dir')
LIST_PATH_FLAGS = ('teacher', 'ensemble')


def check_before_work(values):
    """One line for a flag that cannot work, before anything is prepared or written: an
    unknown network, a path that does not exist, a base that is neither a folder nor a
    released model."""
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
        base = _base_folder(values['init_from'])
        # A damaged base stops here, before the new training folder is made.
        checkpoints.verify(checkpoints.choose(base, 'best') if os.path.isdir(base) else base)


def resolve(values, explicit):
    """Builds the RunConfig from flag `values` (a dict) and the names the user set.

    Order of precedence: flags the user set > the training folder's run.json >
    the dataset's description > the network's defaults.
    """
    cfg = _from_flags(values, explicit)
    mode = modes.get(cfg.mode)
    _find_models(cfg, mode, explicit)
    if cfg.init_from and mode.trains:
        _adopt_base(cfg, explicit)
    try:
        networks.get(cfg.net)
    except KeyError as e:
        raise ConfigError(e.args[0]) from None
    cfg.train_dir = cfg.train_dir or os.path.join('checkpoints', cfg.net)
    recorded = None if (mode.trains and cfg.fresh) else runs.read(cfg.train_dir)
    if cfg.saved_model:
        recorded = _read_export_file(cfg.saved_model)
    if recorded:
        _adopt_recorded(cfg, recorded, mode, explicit)
    net = networks.get(cfg.net)          # the recorded one when --net was not given
    _check_kind_of_net(net, mode)
    _check_flags_are_read(net, mode, explicit)
    _check_mixing(cfg, mode)
    _classes_from_data(cfg, mode)
    _apply_net_defaults(cfg, net, mode, explicit, recorded)
    _validate(cfg, mode)
    return cfg


def _from_flags(values, explicit):
    """The RunConfig of the flags alone, sizes and options parsed."""
    unknown = sorted(set(values) - set(RunConfig.__dataclass_fields__)
                     - set(FaceSettings.__dataclass_fields__)
                     - set(SourceSettings.__dataclass_fields__))
    if unknown:      # a flag that nothing reads would be silently ignored
        raise ConfigError(f'no setting is called {", ".join(unknown)}')
    cfg = RunConfig(**pick(RunConfig, values))
    for key in ('face_size', 'margin'):     # unset: as the training faces were stored
        if key not in explicit:
            setattr(cfg, key, None)
    cfg.input_size, cfg.crop_size = parse_size(cfg.input_size), parse_size(cfg.crop_size)
    cfg.net_options = parse_options(cfg.net_options)
    return cfg


def _adopt_base(cfg, explicit):
    """Fine-tuning: the network and its input are the base's unless a flag says otherwise
    (finetune.check then names the difference)."""
    base = runs.of_checkpoint(cfg.init_from) or {}
    for key in runs.BASE_GRAPH:
        if key not in explicit and base.get(key) is not None:
            value = base[key]
            setattr(cfg, key, tuple(value) if isinstance(value, list) else value)


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
    _check_same_data(cfg, recorded, mode)
    for key in (k for k in runs.ANSWERS if k != 'classes'):    # the classes: the model's
        if key not in explicit:
            setattr(cfg, key, recorded.get(key, getattr(cfg, key)))


def _classes_from_data(cfg, mode):
    """The classes of --data_dir when no model records them; another dataset's classes
    must match the model's."""
    if cfg.data_dir and mode.reads_data and cfg.classes and not mode.trains and \
            not _same_path(cfg.data_dir, cfg.trained_on):
        _check_classes_of_other_data(cfg)
    if cfg.data_dir and mode.reads_data and not cfg.classes:
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


def _apply_net_defaults(cfg, net, mode, explicit, recorded):
    """The network's defaults (its CPU ones without a GPU) for what is still unset;
    fine-tuning's own defaults when training from a base."""
    d = net.defaults
    if d.cpu and not _sees_gpu():      # asked only then: most errors come without TensorFlow
        d, cfg.cpu_sized = d.for_device(gpu=False), True
    if cfg.init_from and mode.trains:
        _fine_tuning_defaults(cfg, d, explicit)
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


def _validate(cfg, mode):
    """The recipe holds together, and the mode has what it needs."""
    if any(c > i for c, i in zip(cfg.crop_size, cfg.input_size)):
        raise ConfigError(f'--crop_size={show(cfg.crop_size)} is larger than '
                          f'--input_size={show(cfg.input_size)}')
    colour = [flag for flag in ('saturation', 'hue', 'grayscale') if getattr(cfg, flag)]
    if colour and cfg.channels == 1 and mode.trains:
        raise ConfigError(f'--{colour[0]} changes colours, but {cfg.net} sees grey faces '
                          f'(--channels=1)')
    _check_towers(cfg)
    _face_geometry_from_dataset(cfg)
    if cfg.num_classes is None and cfg.classes:
        cfg.num_classes = len(cfg.classes)
    missing = [need for need in mode.needs if not getattr(cfg, need)]
    if missing:
        raise ConfigError(f'--mode={cfg.mode} needs {modes.need_text(missing[0], cfg.net)}')
    if cfg.num_classes is None:
        raise ConfigError(
            f'no trained model in {cfg.train_dir} yet (give --train_dir of a trained model, '
            f'or train first). Training needs {modes.need_text("data_dir", cfg.net)}')
    cfg.classes = cfg.classes or [str(i) for i in range(cfg.num_classes)]


def _base_folder(init_from):
    """The folder (or checkpoint) --init_from names, a released model's by its name."""
    found = released.find(init_from)
    if not found:
        raise ConfigError(f'--init_from={init_from} is neither a training folder nor a released '
                          f'model (released: {", ".join(released.names()) or "none in models/"})')
    return found


def _find_models(cfg, mode, explicit):
    """--init_from and --train_dir take a folder or a released model's name. With neither
    --train_dir nor a model of --net in checkpoints/, the default released model answers."""
    if cfg.init_from:
        cfg.init_from = _base_folder(cfg.init_from)
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


def _check_mixing(cfg, mode):
    """Mixup, CutMix and --mix_data combine only with what they can mix."""
    if mode.trains and cfg.mixup_alpha and cfg.cutmix_alpha:
        raise ConfigError('--mixup_alpha and --cutmix_alpha: choose one of the two mixings')
    if mode.trains and (cfg.mixup_alpha or cfg.cutmix_alpha):
        for flag in ('teacher', 'aux_tasks'):    # their targets are not mixed
            if getattr(cfg, flag):
                raise ConfigError(f'--{flag} does not combine with --mixup_alpha or '
                                  '--cutmix_alpha (the soft targets and attributes are not mixed)')
    if mode.trains and cfg.mix_data and cfg.teacher:
        raise ConfigError('--teacher does not combine with --mix_data (its faces have no soft '
                          'targets here)')


# What only a classifier's training reads: a generator pair (dcgan) trains with its own Adam,
# a hinge loss and flips alone, so each of these given to it is refused, not ignored.
CLASSIFIER_TRAINING = (
    'optimizer', 'momentum', 'keep_prob', 'weight_decay', 'label_smoothing', 'brightness',
    'contrast', 'saturation', 'hue', 'grayscale', 'random_erasing', 'hide_hair', 'mixup_alpha',
    'cutmix_alpha', 'init_from', 'base_share', 'folds', 'exclude_scopes', 'trainable_scopes',
    'mix_data', 'mix_share', 'aux_tasks', 'aux_weight', 'teacher', 'distill_weight',
    'distill_temperature', 'num_clones', 'sync_replicas', 'eval_crop', 'eval_flip')
# Sections whose flags only a training reads (but for these few, which other modes read too).
TRAINING_SECTIONS = ('Training', 'Fine-tuning', 'Scale out')
READ_BY_OTHER_MODES = ('batch_size', 'class_map')


def _check_kind_of_net(net, mode):
    kind = 'gan' if net.is_gan else 'classifier'
    if mode.nets not in ('any', kind):
        if net.is_gan:
            raise ConfigError(f'{net.name} is a generator pair, not a classifier: --mode='
                              f'{mode.name} is for classifiers (its modes: train, generate, '
                              'features; its figures: python bench/gan.py)')
        raise ConfigError(f'--mode={mode.name} needs a generator pair (--net=dcgan); '
                          f'{net.name} is a classifier')


def _check_flags_are_read(net, mode, explicit):
    """A flag the chosen network or mode would not read is refused, not silently ignored."""
    for name in sorted(explicit):
        field = RunConfig.__dataclass_fields__.get(name)
        section_title = field.metadata.get('section', '') if field else ''
        if net.is_gan and mode.trains and name in CLASSIFIER_TRAINING:
            raise ConfigError(f'--{name} is for classifiers; {net.name} is a generator pair '
                              '(it trains with Adam, a hinge loss and flips alone): drop it')
        if not mode.trains and section_title.startswith(TRAINING_SECTIONS) and \
                name not in READ_BY_OTHER_MODES:
            raise ConfigError(f'--{name} is for training; --mode={mode.name} does not read it: '
                              'drop it')


def _same_path(a, b):
    return bool(a and b) and os.path.abspath(a) == os.path.abspath(b)


def _check_same_data(cfg, recorded, mode):
    """A training folder goes on learning from the data it started on: another --data_dir
    is refused (or, with --init_from, the old run is moved aside as with --fresh)."""
    theirs = recorded.get('data_dir')
    if not mode.trains or not theirs or not cfg.data_dir or _same_path(theirs, cfg.data_dir):
        return
    if cfg.init_from:
        print(f'{cfg.train_dir} holds a model trained on {theirs}; --init_from starts a new '
              'run on ' + cfg.data_dir + ', so the old one is moved aside')
        cfg.fresh = True
        return
    raise ConfigError(f'{cfg.train_dir} holds a model trained on {theirs}, not on '
                      f'{cfg.data_dir}: use another --train_dir, --fresh to start over, or '
                      f'--init_from={cfg.train_dir} with a new --train_dir to fine-tune it')


def _check_classes_of_other_data(cfg):
    """Evaluating a model on a dataset with other class names (man/woman for a model of
    male/female) is right only when each class matches the model's class of its index."""
    from core import classes
    from data.records import read_meta
    try:
        data_classes = read_meta(cfg.data_dir)['classes']
    except FileNotFoundError as e:
        raise ConfigError(str(e)) from None
    if data_classes == cfg.classes:
        return
    found = classes.mapping(data_classes, cfg.classes, cfg.class_map)
    if len(data_classes) != len(cfg.classes) or any(found.get(i) != i
                                                    for i in range(len(data_classes))):
        raise ConfigError(f'{cfg.data_dir} has the classes {", ".join(data_classes)}, the model '
                          f'{", ".join(cfg.classes)}: they do not match one to one in this order'
                          ' (--class_map=theirs=ours,... says how they match)')
    print(f'classes of {cfg.data_dir} read as the model\'s: '
          + classes.describe(data_classes, cfg.classes, found))


def _fine_tuning_defaults(cfg, defaults, explicit):
    if _same_path(cfg.init_from, cfg.train_dir):
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


def _check_towers(cfg):
    if cfg.num_clones <= 1 or not modes.get(cfg.mode).trains:
        return
    if cfg.batch_size % cfg.num_clones:
        raise ConfigError(f'--batch_size={cfg.batch_size} does not split into '
                          f'--num_clones={cfg.num_clones} equal towers')
    gpus = _sees_gpu()
    if not cfg.clone_on_cpu and gpus < cfg.num_clones:
        raise ConfigError(f'--num_clones={cfg.num_clones} needs as many GPUs (this machine has '
                          f'{gpus}); add --clone_on_cpu to run the towers on the CPU')


def _sees_gpu():
    """How many GPUs TensorFlow sees (imported here: a config error needs no TensorFlow)."""
    import tensorflow as tf
    return len(tf.config.list_physical_devices('GPU'))


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


def show(value):
    if isinstance(value, (list, tuple)):
        return 'x'.join(str(v) for v in value)
    if isinstance(value, dict):                  # net options, as the flag writes them
        return ','.join(f'{k}={v}' for k, v in value.items()) or '(none)'
    return value
