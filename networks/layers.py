"""Layers that tf-slim 1.1.0 no longer provides on current TensorFlow, and shared scopes.

`slim.batch_norm` needs Keras-2 legacy layers that are gone, so batch norm is
written here from `get_variable` and the fused kernel. Its moving averages are
added to UPDATE_OPS, which the trainer runs with every step: eval reads them.
"""
import contextlib

import tensorflow as tf
import tf_slim as slim

v1 = tf.compat.v1


@contextlib.contextmanager
def plain_cnn_scope(weight_decay=0.0):
    """The arg scope of the small plain CNNs (cnn60, nn_gender_88): ReLU, Glorot-uniform
    weights, L2 weight decay when asked, SAME padding for convolutions and pools."""
    regularizer = slim.l2_regularizer(weight_decay) if weight_decay > 0 else None
    with slim.arg_scope([slim.conv2d, slim.fully_connected], activation_fn=tf.nn.relu,
                        weights_initializer=v1.glorot_uniform_initializer(),
                        weights_regularizer=regularizer), \
            slim.arg_scope([slim.conv2d, slim.max_pool2d], padding='SAME') as scope:
        yield scope


def scaled(channels, width):
    """Channel counts multiplied by a width factor (at least 8 each): a CPU-sized net."""
    if width <= 0:
        raise ValueError(f'width={width}: a width factor is positive')
    return tuple(max(8, int(round(c * width))) for c in channels)


def batch_norm(inputs, is_training, decay=0.99, epsilon=1e-3, scope='BatchNorm'):
    """Batch norm over the channels of an NHWC tensor (or the features of a 2-D one).

    Training normalises with the batch statistics and updates the moving
    averages through UPDATE_OPS; eval normalises with the moving averages.
    Usable as slim's `normalizer_fn`.
    """
    with v1.variable_scope(scope):
        channels = inputs.shape[-1]
        beta = v1.get_variable('beta', [channels], initializer=v1.zeros_initializer())
        gamma = v1.get_variable('gamma', [channels], initializer=v1.ones_initializer())
        stats = [v1.GraphKeys.GLOBAL_VARIABLES, v1.GraphKeys.MOVING_AVERAGE_VARIABLES]
        moving_mean = v1.get_variable('moving_mean', [channels], trainable=False,
                                      initializer=v1.zeros_initializer(), collections=stats)
        moving_variance = v1.get_variable('moving_variance', [channels], trainable=False,
                                          initializer=v1.ones_initializer(), collections=stats)
        is_2d = inputs.shape.rank == 2
        x = inputs[:, None, None, :] if is_2d else inputs
        if is_training:
            y, mean, variance = v1.nn.fused_batch_norm(x, gamma, beta, epsilon=epsilon,
                                                       is_training=True)
            decay = _warmed_up(decay)
            for var, value in ((moving_mean, mean), (moving_variance, variance)):
                update = v1.assign_sub(var, (var - value) * (1.0 - decay))
                v1.add_to_collection(v1.GraphKeys.UPDATE_OPS, update)
        else:
            y, _, _ = v1.nn.fused_batch_norm(x, gamma, beta, mean=moving_mean,
                                             variance=moving_variance, epsilon=epsilon,
                                             is_training=False)
        return y[:, 0, 0, :] if is_2d else y


def _warmed_up(decay):
    """The decay of the moving statistics, ramped up with the global step as
    ExponentialMovingAverage's num_updates does: min(decay, (1 + step) / (10 + step)).
    With a fixed 0.99, statistics after 150 steps still hold a fifth of their initial
    zeros and ones, in every layer: a slow deep net evaluated early judged with them."""
    step = v1.train.get_global_step()
    if step is None:
        return decay
    step = tf.cast(step, tf.float32)
    return tf.minimum(decay, (1.0 + step) / (10.0 + step))


def spectral_normalized(weights, is_training, scope='spectral_norm'):
    """`weights` divided by their largest singular value (Miyato et al. 2018), estimated by
    one power iteration per training step; the iteration's vector `u` is a non-trainable
    variable updated through UPDATE_OPS, so evaluation reuses the last estimate."""
    with v1.variable_scope(scope):
        matrix = tf.reshape(weights, [-1, weights.shape[-1]])          # [fan_in, out]
        u = v1.get_variable('u', [1, matrix.shape[-1]], trainable=False,
                            initializer=v1.random_normal_initializer())
        v = tf.math.l2_normalize(tf.matmul(u, matrix, transpose_b=True))
        u_next = tf.math.l2_normalize(tf.matmul(v, matrix))
        u_next, v = tf.stop_gradient(u_next), tf.stop_gradient(v)
        sigma = tf.squeeze(tf.matmul(tf.matmul(v, matrix), u_next, transpose_b=True))
        if is_training:
            v1.add_to_collection(v1.GraphKeys.UPDATE_OPS, v1.assign(u, u_next))
        return weights / sigma
