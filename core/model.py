"""Graph pieces shared by every mode: the network on a device, loss, learning rate, optimizer."""
import contextlib
import dataclasses

import tensorflow as tf

import networks
from core import checkpoints, precision
from data import pipeline

v1 = tf.compat.v1
NET_SCOPE = 'net'


def compute_device():
    """'/gpu:0' when TensorFlow sees a GPU, else '/cpu:0'; the input pipeline stays on the CPU."""
    return '/gpu:0' if tf.config.list_physical_devices('GPU') else '/cpu:0'


def clone_device(index, cfg):
    """The device of tower `index`: its own GPU (config checks there are enough), or the
    CPU with --clone_on_cpu; a single tower goes where build_network puts any net."""
    if cfg.num_clones == 1:
        return compute_device()
    return '/cpu:0' if cfg.clone_on_cpu else f'/gpu:{index}'


def average_gradients(tower_grads):
    """[(gradient, variable)] averaged over towers (each a list from compute_gradients)."""
    if len(tower_grads) == 1:
        return tower_grads[0]
    averaged = []
    for pairs in zip(*tower_grads):
        grads = [g for g, _ in pairs if g is not None]
        grad = tf.add_n(grads) / float(len(grads)) if grads else None
        averaged.append((grad, pairs[0][1]))
    return averaged


def build_network(images, cfg, is_training, reuse=False, device=None, custom_getter=None):
    """(logits, end_points) of cfg.net; all variables live under the 'net' scope."""
    net = networks.get(cfg.net)
    with tf.device(device or compute_device()), \
            v1.variable_scope(NET_SCOPE, reuse=reuse, custom_getter=custom_getter):
        logits, end_points = net.fn(images, cfg.num_classes, is_training=is_training,
                                    keep_prob=cfg.keep_prob if is_training else 1.0,
                                    weight_decay=cfg.weight_decay, **(cfg.net_options or {}))
    return logits, end_points


def moving_average(cfg, global_step):
    """The weights' exponential moving average (research/slim's --moving_average_decay),
    its decay warmed up by the step count; None when off."""
    if not cfg.moving_average_decay:
        return None
    return v1.train.ExponentialMovingAverage(cfg.moving_average_decay, num_updates=global_step)


def averaged_getter(ema):
    """A variable-scope getter that hands the network the averages instead of the weights."""
    # TensorFlow passes the next getter as `getter=` (get_variable) or first (slim).
    def getter(getter, name, *args, **kwargs):
        var = getter(name, *args, **kwargs)
        average = ema.average(var)
        return var if average is None else average
    return getter


def inference_logits(images, cfg, reuse=False, temperature=1.0, custom_getter=None):
    """(logits, end_points) in eval mode, the one inference graph of eval, predict and export.

    With cfg.eval_flip the logits are the mean over the image and its mirror
    image (test-time flip averaging; end_points are those of the unflipped
    image). Logits are divided by the calibration `temperature`."""
    if not cfg.eval_flip:
        logits, end_points = build_network(images, cfg, is_training=False, reuse=reuse,
                                           custom_getter=custom_getter)
        return logits / temperature, end_points
    both = tf.concat([images, tf.reverse(images, axis=[2])], axis=0)
    logits, end_points = build_network(both, cfg, is_training=False, reuse=reuse,
                                       custom_getter=custom_getter)
    plain, mirrored = tf.split(logits, 2, axis=0)
    first_half = {k: tf.split(v, 2, axis=0)[0] for k, v in end_points.items()}
    return (plain + mirrored) / (2.0 * temperature), first_half


def trainable(cfg):
    """The variables training changes: all trainable ones, or those in --trainable_scopes."""
    variables = v1.trainable_variables()
    if not cfg.trainable_scopes:
        return variables
    chosen = [v for v in variables
              if any(v.op.name.startswith(scope.rstrip('/') + '/') for scope in cfg.trainable_scopes)]
    if not chosen:
        from core.store.errors import ConfigError
        raise ConfigError(f'--trainable_scopes={",".join(cfg.trainable_scopes)} matches no '
                          f'variable (they are named like {variables[0].op.name})')
    return chosen


def all_finite(variables):
    """A scalar bool: every float variable holds finite values only."""
    checks = [tf.reduce_all(tf.math.is_finite(v)) for v in variables if v.dtype.base_dtype.is_floating]
    return tf.reduce_all(tf.stack(checks)) if checks else tf.constant(True)


def loss_fn(logits, labels, cfg):
    """Softmax cross-entropy (optionally label-smoothed) plus any weight decay."""
    onehot = tf.one_hot(labels, cfg.num_classes)
    loss = v1.losses.softmax_cross_entropy(onehot, logits, label_smoothing=cfg.label_smoothing,
                                           loss_collection=None)
    regularization = v1.losses.get_regularization_losses(scope=NET_SCOPE)
    return loss + tf.add_n(regularization) if regularization else loss


def learning_rate(global_step, steps_per_epoch, cfg, progress=None):
    """fixed | exponential (smooth decay by lr_decay_rate every lr_decay_epochs) | step |
    cosine (to zero at the end of training; `progress`, a [0, 1] tensor, says where the
    end is when a time budget decides it)."""
    decay_steps = max(1, int(cfg.lr_decay_epochs * steps_per_epoch))
    base = cfg.learning_rate
    if cfg.lr_schedule == 'fixed':
        return tf.constant(base, tf.float32)
    if cfg.lr_schedule == 'exponential':
        return v1.train.exponential_decay(base, global_step, decay_steps, cfg.lr_decay_rate)
    if cfg.lr_schedule == 'step':
        return v1.train.exponential_decay(base, global_step, decay_steps, cfg.lr_decay_rate,
                                          staircase=True)
    if cfg.lr_schedule == 'cosine':
        if progress is not None:
            return base * 0.5 * (1.0 + tf.cos(3.141592653589793 * tf.minimum(progress, 1.0)))
        total = max(1, cfg.max_steps or cfg.epochs * steps_per_epoch)
        return v1.train.cosine_decay(base, global_step, total)
    raise ValueError(f'unknown --lr_schedule={cfg.lr_schedule}')


def optimizer(lr, cfg):
    if cfg.optimizer == 'adam':
        return v1.train.AdamOptimizer(lr)
    if cfg.optimizer == 'momentum':
        return v1.train.MomentumOptimizer(lr, cfg.momentum, use_nesterov=True)
    if cfg.optimizer == 'rmsprop':
        return v1.train.RMSPropOptimizer(lr, momentum=cfg.momentum)
    if cfg.optimizer == 'sgd':
        return v1.train.GradientDescentOptimizer(lr)
    raise ValueError(f'unknown --optimizer={cfg.optimizer}')


def session_config(cfg):
    """The settings of every session of a run: its threads and its precision."""
    return precision.session_config(cfg.precision, cfg.inter_op_threads, cfg.intra_op_threads)


def session(cfg, graph):
    """A session on `graph` with the run's settings. Every session of the platform opens
    here or in restored() (a training's, with its recovery and cluster: core/run/sessions.py)."""
    return v1.Session(graph=graph, config=session_config(cfg))


@dataclasses.dataclass(frozen=True)
class Restored:
    """A graph, its open session and a checkpoint restored into it; `built` is what the
    build function returned (its placeholders and outputs). Closes with `with`."""
    graph: tf.Graph
    session: v1.Session
    built: object
    checkpoint: str

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.session.close()


def restored(cfg, build, which=None):
    """The one way a trained model is opened: `build()` in a new graph, a session with the
    run's settings (precision, threads), then checkpoint `which` (default cfg.checkpoint:
    best, last or a path) of cfg.train_dir restored, its moving averages when it kept them."""
    graph = tf.Graph()
    with graph.as_default():
        built = build()
        sess = session(cfg, graph)
        try:
            path = checkpoints.restore(sess, cfg.train_dir, which or cfg.checkpoint,
                                       cfg.averaged)
        except BaseException:
            sess.close()
            raise
    return Restored(graph, sess, built, path)


@contextlib.contextmanager
def on_cpu():
    with tf.device('/cpu:0'):
        yield


@dataclasses.dataclass(frozen=True)
class TrainingInput:
    """What every training step starts from (training_input)."""
    iterator: object            # its initializer runs once per session
    batch: dict                 # {'image', 'label', 'filename', 'attr/...'} tensors
    global_step: tf.Variable
    max_steps: int
    progress: tf.Tensor         # the fraction done, fed under a time budget
    lr: tf.Tensor


@dataclasses.dataclass(frozen=True)
class TrainingStep:
    """One training step in a graph, as cnn.build_training and gan.build_training make it."""
    batch: dict
    train_op: tf.Operation
    loss: tf.Tensor             # the loss watched for divergence
    accuracy: tf.Tensor
    lr: tf.Tensor
    global_step: tf.Variable
    step_after: tf.Tensor       # the global step once train_op has run
    start_input: tf.Operation   # run once per session
    progress: tf.Tensor
    optimizer: object           # a SyncReplicasOptimizer's chief and local inits come from it
    max_steps: int
    ema: object                 # tf.train.ExponentialMovingAverage, or None
    summaries: tf.Tensor
    log: list                   # (name, tensor, is_percent) of the progress line, loss first


def training_input(cfg, meta, spec, steps_per_epoch, part=(0, 1), mix=None):
    """What every training step starts from: the shuffled, augmented batches of `spec` (this
    worker's `part` of the shards; a resumed run's stream its own), the global step,
    max_steps, `progress` (the fraction done; the loop feeds the larger of steps and time
    under a budget) and the learning rate."""
    last = checkpoints.latest(cfg.train_dir) if cfg.train_dir else None
    with on_cpu():
        ds = pipeline.make_dataset(cfg.data_dir, cfg.train_splits, spec, cfg.batch_size, True,
                                   cache_mb=cfg.cache_mb, seed=pipeline.resumed_seed(
                                       cfg.seed, last and checkpoints.step_of(last)),
                                   meta=meta, part=part,
                                   mix=mix, balance=cfg.balance,
                                   fold=cfg.fold and (*cfg.fold, False))
        iterator = v1.data.make_initializable_iterator(ds)
        batch = iterator.get_next()
    global_step = v1.train.get_or_create_global_step()
    max_steps = cfg.max_steps or cfg.epochs * steps_per_epoch
    progress = v1.placeholder_with_default(
        tf.cast(global_step, tf.float32) / float(max(1, max_steps)), [], name='progress')
    lr = learning_rate(global_step, steps_per_epoch, cfg, progress)
    return TrainingInput(iterator=iterator, batch=batch, global_step=global_step,
                         max_steps=max_steps, progress=progress, lr=lr)


def eval_fetches(batch, cfg, ema=None):
    """The eval graph; with `ema` (training with --moving_average_decay) it runs on the
    averaged weights, as every mode after training does."""
    logits, _ = inference_logits(batch['image'], cfg, reuse=v1.AUTO_REUSE,
                                       custom_getter=averaged_getter(ema) if ema else None)
    fetches = {'label': batch['label'], 'prediction': tf.argmax(logits, -1, output_type=tf.int32),
               'logits': logits, 'filename': batch['filename']}
    fetches.update({k: v for k, v in batch.items() if k.startswith('attr/')})
    return fetches


def split_outputs(cfg, split, which='best', alter=None):
    """(eval_fetches of every face of a split of cfg.data_dir, in order, as arrays; the path
    of the checkpoint `which` of cfg.train_dir that made them): the one way a trained run
    judges a split (eval, teachers, ensembles). `alter`, when given, maps each batch of
    network inputs to what is judged instead (bench/hair.py greys the hair)."""
    def build():
        with on_cpu():
            ds = pipeline.make_dataset(cfg.data_dir, split, cfg.image_spec, cfg.batch_size,
                                       False, cache_mb=cfg.cache_mb)
            if alter:
                ds = ds.map(lambda batch: dict(batch, image=alter(batch['image'])))
            iterator = v1.data.make_initializable_iterator(ds)
        return iterator, eval_fetches(iterator.get_next(), cfg)

    with restored(cfg, build, which) as run:
        iterator, fetches = run.built
        out = pipeline.concatenate(pipeline.run_split(run.session, iterator, fetches))
    return out, run.checkpoint
