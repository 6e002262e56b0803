"""Every setting of a run, with its default and help written once: the flags of runner.py
are made from these fields."""
import dataclasses

import networks
from common.settings import section, setting
from core import modes
from core.modes import (ANSWERING, CLASSIFIER_TRAINING, EVERY_MODE, TRAINING,
                        reads)
from core.precision import CHOICES as PRECISIONS
from core.config.finetuning import (FINETUNE_BASE_SHARE, FINETUNE_EPOCHS, FINETUNE_FOLDS,
                                    FINETUNE_LABEL_SMOOTHING, FINETUNE_LR_FACTOR, FOLDS_BELOW)
from core.config.values import plain
from core.store import lite, runs
from data import preprocess
from data.faces import SMALLEST_FACE


# The view a classifier's answers are computed on: a generator pair's training reads neither.
CLASSIFIER_VIEW = dataclasses.replace(EVERY_MODE, generators_train=False)


class _Derived:
    """What a run's settings give, for the finished RunConfig and for resolve's draft."""

    @property
    def image_spec(self):
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(preprocess.ImageSpec)}
        fields.update(input_size=tuple(self.input_size), crop_size=tuple(self.crop_size),
                      margin=self.margin or 0.0)
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


@dataclasses.dataclass(frozen=True)
class RunConfig(_Derived):
    """Every setting of a run, built once by config.resolve and never changed after
    (dataclasses.replace makes another). A field made with `setting` is also a runner.py
    flag (its default and help written here only); the others are filled in by resolve."""
    section('What and where', readers=EVERY_MODE)
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
    fresh: bool = setting(False, 'Start training over; the previous run is moved aside.',
                          readers=TRAINING)
    section('The network (defaults come from the network module)', readers=EVERY_MODE)
    num_classes: int = setting(None, 'Number of classes (default: from the dataset).',
                               lower_bound=2)
    input_size: tuple = setting(None, 'Images are resized to this: 100 or HEIGHTxWIDTH.')
    crop_size: tuple = setting(None, 'The network sees crops of this size: 80 or HxW.')
    channels: int = setting(None, '1 for grayscale, 3 for colour.', lower_bound=1, upper_bound=3)
    net_options: list = setting(None, 'Extra keyword options of the network, e.g. init=glorot '
                                '(a list of key=value).')
    eval_crop: str = setting('center', 'Eval/predict view: the centre crop, or the whole image '
                             'resized to the crop size.', choices=['center', 'resize'],
                             readers=CLASSIFIER_VIEW)
    eval_flip: bool = setting(False, 'Eval/predict/export: average the logits of each face and '
                              'its mirror image (recorded at training, like --eval_crop).',
                              readers=CLASSIFIER_VIEW)
    section('Training', readers=TRAINING)
    batch_size: int = setting(None, 'Images per step.', lower_bound=1, readers=EVERY_MODE)
    optimizer: str = setting(None, 'Optimizer.', choices=['adam', 'momentum', 'rmsprop', 'sgd'],
                             readers=CLASSIFIER_TRAINING)
    learning_rate: float = setting(None, 'Initial learning rate.', above=0)
    lr_schedule: str = setting('fixed', 'Learning-rate schedule.',
                               choices=['fixed', 'exponential', 'step', 'cosine'])
    lr_decay_rate: float = setting(0.1, 'exponential/step: factor per --lr_decay_epochs.', above=0)
    lr_decay_epochs: float = setting(5.0, 'exponential/step: epochs per decay.', above=0)
    momentum: float = setting(0.9, 'Momentum of the momentum and rmsprop optimizers.',
                              lower_bound=0, below=1, readers=CLASSIFIER_TRAINING)
    keep_prob: float = setting(None, 'Dropout keep probability in training.',
                               above=0, upper_bound=1, readers=CLASSIFIER_TRAINING)
    weight_decay: float = setting(None, 'L2 weight decay.', lower_bound=0,
                                  readers=CLASSIFIER_TRAINING)
    label_smoothing: float = setting(0.0, 'Label smoothing of the cross-entropy.',
                                     lower_bound=0, below=1, readers=CLASSIFIER_TRAINING)
    epochs: int = setting(None, 'Epochs to train (ignored when --max_steps is set).',
                          lower_bound=1, upper_bound=10**6)
    max_steps: int = setting(0, 'Train up to this global step (0 = use --epochs).', lower_bound=0,
                             upper_bound=10**9)
    max_minutes: float = setting(0.0, 'Time budget: stop (checkpoint, eval) after this many '
                                 'minutes of training; a cosine schedule then decays to zero '
                                 'at the budget\'s end. 0 = no budget.', lower_bound=0,
                                 upper_bound=10**6)
    brightness: float = setting(0.2, 'Augmentation: max brightness change (0-1 scale).',
                                lower_bound=0, upper_bound=1, readers=CLASSIFIER_TRAINING)
    contrast: float = setting(0.3, 'Augmentation: contrast factor range 1 +- this.',
                              lower_bound=0, below=1, readers=CLASSIFIER_TRAINING)
    flip: bool = setting(True, 'Augmentation: random horizontal flips.')
    saturation: float = setting(0.0, 'Augmentation of colour nets: saturation factor range '
                                '1 +- this, e.g. 0.5.', lower_bound=0, below=1,
                                readers=CLASSIFIER_TRAINING)
    hue: float = setting(0.0, 'Augmentation of colour nets: max hue shift as a fraction of the '
                         'colour circle, e.g. 0.05.', lower_bound=0, upper_bound=0.5,
                         readers=CLASSIFIER_TRAINING)
    grayscale: float = setting(0.0, 'Augmentation of colour nets: probability of turning a '
                               'training face grey (for black-and-white photos), e.g. 0.1.',
                               lower_bound=0, upper_bound=1, readers=CLASSIFIER_TRAINING)
    random_erasing: float = setting(0.0, 'Augmentation: probability of filling a random '
                                    'rectangle (2-40% of the face) with noise.',
                                    lower_bound=0, upper_bound=1, readers=CLASSIFIER_TRAINING)
    hide_hair: float = setting(0.0, 'Augmentation: probability of greying out the hair: '
                               'above the brows, or all but the inner face (half the time '
                               'each), so the face itself must carry the answer, e.g. 0.3.',
                               lower_bound=0, upper_bound=1, readers=CLASSIFIER_TRAINING)
    hide_hair_from_age: int = setting(0, 'With --hide_hair: only faces recorded this old or '
                                      'older (or of no recorded age) have the hair hidden, so '
                                      'children keep theirs, e.g. 20; 0 = every face.',
                                      lower_bound=0, readers=CLASSIFIER_TRAINING)
    balance: float = setting(0.0, 'Group-balanced sampling over race x class x age band (as '
                             'the records carry them): a face is drawn in proportion to '
                             'n^-balance, n its group\'s size; 1 = every group as often, '
                             '0.5 = by the square root, 0 = off.', lower_bound=0, upper_bound=1)
    mixup_alpha: float = setting(0.0, 'Mixup: blend each training batch with a shuffled copy '
                                 'of itself, share ~ Beta(alpha, alpha), e.g. 0.2; 0 = off.',
                                 lower_bound=0, readers=CLASSIFIER_TRAINING)
    cutmix_alpha: float = setting(0.0, 'CutMix: paste a rectangle of a shuffled partner into '
                                  'each training face, area ~ Beta(alpha, alpha), e.g. 1.0; '
                                  '0 = off.', lower_bound=0, readers=CLASSIFIER_TRAINING)
    section('Fine-tuning from a base model (core/train/finetune.py)',
            readers=CLASSIFIER_TRAINING)
    init_from: str = setting(None, 'Start a new training from this trained run (a train_dir, '
                             'or a checkpoint path): every variable of the same name and shape '
                             'is restored at step 0; the classifier layer starts fresh when the '
                             'classes differ. Sizes and channels must match the base; '
                             'another --net keeps what the two share (e.g. res64\'s body '
                             'under res64s\'s head). '
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
                              'case-insensitive, and man/woman as male/female).',
                              readers=EVERY_MODE)
    section('More data, more heads, averaging, distillation', readers=CLASSIFIER_TRAINING)
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
                                          above=0, below=1, readers=EVERY_MODE)
    teacher: list = setting(None, 'Distillation: trained runs (train_dirs) whose flip-averaged, '
                            'softened probabilities on each training face become its soft '
                            'targets (core/train/distill.py); same classes as this run.')
    distill_weight: float = setting(0.5, 'With --teacher: weight of the soft targets\' loss '
                                    '(the labels\' gets 1 - this).', lower_bound=0, upper_bound=1)
    distill_temperature: float = setting(2.0, 'With --teacher: temperature that softens the '
                                         'teachers\' and the student\'s probabilities.', above=0)
    ensemble: list = setting(None, 'eval: also these trained runs; the mean of their and '
                             '--train_dir\'s probabilities is reported as one model.',
                             readers=reads('eval'))
    seed: int = setting(None, 'Random seed of the graph, the shuffles and the augmentation: the '
                        'same seed and flags give the same run on the same machine.',
                        readers=reads('train', 'generate'))
    section('Bookkeeping', readers=TRAINING)
    log_every: int = setting(50, 'Log and write summaries every N steps.', lower_bound=1)
    eval_every: int = setting(0, 'Evaluate and checkpoint every N steps (0 = every epoch).',
                              lower_bound=0)
    keep_checkpoints: int = setting(3, 'How many recent checkpoints to keep.', lower_bound=1)
    cache_mb: int = setting(4096, 'Cache decoded images in memory when they fit in this.',
                            lower_bound=0, readers=reads('train', 'eval', 'export'))
    checkpoint: str = setting('best', 'eval/predict/features/export: best, last, or a path.',
                              readers=ANSWERING)
    section('Compute (every mode)', readers=EVERY_MODE)
    precision: str = setting('auto', 'Arithmetic of the network: bf16 (bfloat16 mixed '
                             'precision: variables, checkpoints, loss and softmax stay '
                             'float32) or fp32; auto takes bf16 where the CPU has AMX or '
                             'AVX-512 BF16 (lscpu), fp32 elsewhere. Checkpoints are the same '
                             'files either way.', choices=list(PRECISIONS))
    inter_op_threads: int = setting(0, 'TensorFlow inter-op threads (0 = automatic).',
                                    lower_bound=0)
    intra_op_threads: int = setting(0, 'TensorFlow intra-op threads (0 = automatic).',
                                    lower_bound=0)
    section('Eval, predict, features, export, demo, generate', readers=ANSWERING)
    image: str = setting(None, 'predict/features: an image file or a folder of images.',
                         readers=reads('predict', 'features'))
    output: str = setting(None, 'predict: CSV file of the results; features: output folder.',
                          readers=reads('predict', 'features', 'generate'))
    annotate: str = setting(None, 'predict: write copies of the photos with labelled face '
                            'boxes here (and a grid of them all for a folder).',
                            readers=reads('predict'))
    uncertain_below: float = setting(0.6, 'predict: a face whose calibrated confidence is '
                                     'below this is printed as uncertain.',
                                     lower_bound=0, upper_bound=1, readers=reads('predict', 'demo'))
    smallest_face: int = setting(SMALLEST_FACE, 'predict/demo: smallest face looked for, px '
                                 '(short side). Detection runs on a copy scaled to it: lower '
                                 'finds smaller faces, slower.', lower_bound=1,
                                 readers=reads('predict', 'features', 'demo'))
    export_dir: str = setting(None, 'export: SavedModel folder (default '
                              '<train_dir>/export/<step>).', readers=reads('export'))
    quantize: str = setting('none', 'export: also write model_int8.tflite, the network in int8 '
                            'for CPUs (its accuracy against fp32 is measured on the eval '
                            'split).', choices=['none', 'int8'], readers=reads('export'))
    backend: str = setting('auto', 'predict/eval/demo: auto answers from the model\'s TFLite '
                           'files (lite/, which every released model carries) without importing '
                           'TensorFlow, and through TensorFlow when it has none; tf forces '
                           'TensorFlow (for checking, or a GPU); lite refuses to run without them.',
                           choices=['auto', 'lite', 'tf'], readers=reads(*lite.MODES))
    int8_model: str = setting(None, 'eval/predict/demo: run the network from this int8 model '
                              '(--mode=export --quantize=int8) instead of fp32.',
                              readers=reads('eval', 'predict', 'demo'))
    saved_model: str = setting(None, 'demo: serve this exported SavedModel folder instead of '
                               'the best checkpoint.', readers=reads('demo'))
    label: str = setting(None, 'generate: the class of the faces to make (default: every '
                         'class).', readers=reads('generate'))
    count: int = setting(16, 'generate: faces to make of each class.', lower_bound=1,
                         readers=reads('generate'))
    truncation: float = setting(1.0, 'generate/demo: the generator\'s noise scaled by this '
                                '(the truncation trick): below 1, more typical faces of the '
                                'class, less varied.', above=0, readers=reads('generate', 'demo'))
    generator_dir: str = setting(None, 'demo: the training folder of a face generator '
                                 '(--net=dcgan), for the "Make a face" tab.', readers=reads('demo'))
    host: str = setting('127.0.0.1', 'demo: address to listen on (0.0.0.0 = every network '
                        'interface; mind who can reach it).', readers=reads('demo'))
    port: int = setting(7860, 'demo: port to listen on.', lower_bound=1, upper_bound=65535,
                        readers=reads('demo'))
    max_upload_mb: float = setting(10.0, 'demo: uploads larger than this are refused.', above=0,
                                   readers=reads('demo'))
    section('Scale out (core/run/cluster.py): a ps/worker cluster, towers in one process',
            readers=TRAINING)
    ps_hosts: list = setting(None, 'Cluster: parameter servers, host:port,...')
    worker_hosts: list = setting(None, 'Cluster: workers, host:port,... (the first is the '
                                 'chief: it evaluates and writes checkpoints and summaries).')
    job_name: str = setting(None, 'Cluster: the job of this process.', choices=['ps', 'worker'])
    task_index: int = setting(0, 'Cluster: index of this process within its job.', lower_bound=0)
    sync_replicas: bool = setting(False, 'Cluster: average every worker\'s gradients each step '
                                  '(default: asynchronous updates).', readers=CLASSIFIER_TRAINING)
    cluster_timeout: float = setting(120.0, 'Cluster: seconds to wait for the other hosts.',
                                     above=0)
    num_clones: int = setting(1, 'Towers that split each batch and average their gradients '
                              '(one per GPU).', lower_bound=1, readers=CLASSIFIER_TRAINING)
    clone_on_cpu: bool = setting(False, 'Put the --num_clones towers on the CPU.')
    # Filled in by resolve, not flags
    classes: list = None
    detect: str = 'on'           # predict/features: as faces.detect (a FaceSettings flag)
    face_size: int = None        # side photos' faces are aligned at: as the training faces
    margin: float = None         # border around aligned faces: as the training faces
    trained_on: str = None       # the data_dir the model was trained on (run.json)
    photos_of: str = None        # the folder of raw photos --data_dir named, prepared into data_dir
    train_splits: tuple = ('train',)   # the splits trained on (all of them after the folds)
    fold: tuple = None           # (i, k): trains on the faces outside fold i of k
    cpu_sized: bool = False      # the net's defaults for a machine without a GPU applied
    precision_why: str = None    # what decided --precision (auto resolves to bf16 or fp32)


# What config.resolve fills in, field by field, before the RunConfig is made once from it.
Draft = dataclasses.make_dataclass(
    'Draft', [(f.name, f.type, dataclasses.field(default=f.default, metadata=f.metadata))
              for f in dataclasses.fields(RunConfig)], bases=(_Derived,))


def finished(draft):
    """The RunConfig of a resolved draft."""
    return RunConfig(**{f.name: getattr(draft, f.name) for f in dataclasses.fields(RunConfig)})
