"""dcgan: a class-conditional DCGAN-style pair for 64x64 colour faces.

Generator: noise (128) and the class -> 4x4x256 -> three 4x4 stride-2 transposed
convolutions with batch norm and ReLU (128, 64, 32) -> 64x64x3, tanh.
Discriminator: four 4x4 stride-2 convolutions (32..256) with spectral norm and
leaky ReLU, then a projection onto the class (Miyato & Koyama 2018): its logits
are one realness score per class, so the same function is the registered network
(`--mode=features` shows its maps). Trained with the hinge loss (core/gan.py).
Widths are sized for a 2-core CPU: about 1 s a step of 64 there.

    python runner.py --net=dcgan --data_dir=records/utkface_faces --max_minutes=60
    python runner.py --net=dcgan --mode=generate --label=female --count=16 --seed=1
"""
import tensorflow as tf
import tf_slim as slim

import networks
from networks.layers import batch_norm, spectral_normalized

v1 = tf.compat.v1
NOISE_DIM = 128
WIDTHS = (32, 64, 128, 256)         # discriminator, coarse to deep; the generator mirrors it


def _sn_conv(net, depth, is_training, scope):
    with v1.variable_scope(scope):
        kernel = v1.get_variable('weights', [4, 4, net.shape[-1], depth],
                                 initializer=v1.glorot_uniform_initializer())
        bias = v1.get_variable('biases', [depth], initializer=v1.zeros_initializer())
        kernel = spectral_normalized(kernel, is_training)
        return tf.nn.bias_add(tf.nn.conv2d(net, kernel, 2, 'SAME'), bias)


def _sn_dense(net, units, is_training, scope):
    with v1.variable_scope(scope):
        weights = v1.get_variable('weights', [net.shape[-1], units],
                                  initializer=v1.glorot_uniform_initializer())
        return tf.matmul(net, spectral_normalized(weights, is_training))


def discriminator(images, num_classes, is_training, keep_prob=1.0, weight_decay=0.0):
    """[N, 64, 64, 3] in [-1, 1] -> ([N, num_classes] realness of the image as each class,
    end_points)."""
    end_points = {}
    net = images
    for i, depth in enumerate(WIDTHS, start=1):
        net = _sn_conv(net, depth, is_training, f'conv{i}')
        # Leaky ReLU as a maximum: grappler's fused LeakyRelu fails on this graph's gradient.
        net = end_points[f'conv{i}'] = tf.maximum(net, 0.2 * net)
    features = end_points['pre_logits'] = tf.reduce_sum(net, axis=[1, 2])
    unconditional = _sn_dense(features, 1, is_training, 'realness')
    # Projection: <embedding of class c, features> for every c at once.
    per_class = _sn_dense(features, num_classes, is_training, 'class_projection')
    logits = end_points['logits'] = unconditional + per_class
    return logits, end_points


def generator(noise, labels, num_classes, is_training):
    """noise [N, NOISE_DIM], labels [N] int -> ([N, 64, 64, 3] in [-1, 1], end_points)."""
    end_points = {}

    def bn_relu(x):
        return tf.nn.relu(batch_norm(x, is_training))
    net = tf.concat([noise, tf.one_hot(labels, num_classes)], axis=1)
    with slim.arg_scope([slim.fully_connected, slim.conv2d_transpose], activation_fn=None,
                        normalizer_fn=None, weights_initializer=v1.glorot_uniform_initializer()):
        net = slim.fully_connected(net, 4 * 4 * WIDTHS[-1], scope='project')
        net = bn_relu(tf.reshape(net, [-1, 4, 4, WIDTHS[-1]]))
        for i, depth in enumerate(reversed(WIDTHS[:-1]), start=1):
            with v1.variable_scope(f'up{i}'):
                net = end_points[f'up{i}'] = bn_relu(
                    slim.conv2d_transpose(net, depth, [4, 4], 2, scope='deconv'))
        net = slim.conv2d_transpose(net, 3, [4, 4], 2, scope='to_rgb')
    images = end_points['images'] = tf.tanh(net)
    return images, end_points


networks.register('dcgan', networks.Defaults(
    input_size=(64, 64), crop_size=(64, 64), channels=3, batch_size=64, optimizer='adam',
    learning_rate=2e-4, keep_prob=1.0, epochs=40), generator=generator)(discriminator)
