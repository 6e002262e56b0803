"""Graph pieces shared by every mode: the network on a device, loss, learning rate, optimizer."""
import contextlib

import tensorflow as tf

import networks

v1 = tf.compat.v1
NET_SCOPE = 'net'


def compute_device():
    """'/gpu:0' when TensorFlow sees a GPU, else '/cpu:0'; the input pipeline stays on the CPU."""
    return '/gpu:0' if tf.config.list_physical_devices('GPU') else '/cpu:0'


def build_network(images, cfg, is_training, reuse=False):
    """(logits, end_points) of cfg.net; all variables live under the 'net' scope."""
    net = networks.get(cfg.net)
    with tf.device(compute_device()), v1.variable_scope(NET_SCOPE, reuse=reuse):
        logits, end_points = net.fn(images, cfg.num_classes, is_training=is_training,
                                    keep_prob=cfg.keep_prob if is_training else 1.0,
                                    weight_decay=cfg.weight_decay, **(cfg.net_options or {}))
    return logits, end_points


def loss_fn(logits, labels, cfg):
    """Softmax cross-entropy (optionally label-smoothed) plus any weight decay."""
    onehot = tf.one_hot(labels, cfg.num_classes)
    loss = v1.losses.softmax_cross_entropy(onehot, logits, label_smoothing=cfg.label_smoothing,
                                           loss_collection=None)
    regularization = v1.losses.get_regularization_losses(scope=NET_SCOPE)
    return loss + tf.add_n(regularization) if regularization else loss


def learning_rate(global_step, steps_per_epoch, cfg):
    """fixed | exponential (smooth decay by lr_decay_rate every lr_decay_epochs) | step."""
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
    return v1.ConfigProto(allow_soft_placement=True,
                          inter_op_parallelism_threads=cfg.inter_op_threads,
                          intra_op_parallelism_threads=cfg.intra_op_threads)


@contextlib.contextmanager
def on_cpu():
    with tf.device('/cpu:0'):
        yield
