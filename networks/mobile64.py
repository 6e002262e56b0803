"""mobile64: a MobileNetV2-style net (Sandler et al. 2018) for 64x64 faces on a CPU.

A 3x3 stride-2 stem (MobileNet's; 32x32 from a 64x64 face), then inverted residual blocks: a 1x1 expansion,
a 3x3 depthwise convolution, squeeze-and-excitation (Hu et al. 2018) on the later
stages, and a linear 1x1 projection, with a shortcut where the shape allows; a 1x1
conv to 512 channels, global average pooling, dropout and the classifier. Depthwise
convolutions spend their arithmetic where a face's detail is (each channel its own
3x3 filter), so a wider, deeper net costs a CPU what cnn60 does.

    python runner.py --net=mobile64 --data_dir=records/fairface --lr_schedule=cosine \
        --max_minutes=20 --epochs=1000
"""
import tensorflow as tf
import tf_slim as slim

import networks
from networks import resnet
from networks.layers import batch_norm, scaled

v1 = tf.compat.v1
# (expansion, output channels, blocks, first stride, squeeze-excitation) per stage
STAGES = ((1, 16, 1, 1, False), (4, 24, 2, 1, False), (4, 40, 2, 2, True),
          (4, 80, 3, 2, True), (4, 112, 2, 1, True), (4, 160, 2, 2, True))
HEAD = 512


def squeeze_excite(net, ratio=4):
    """Channels re-weighted by what the whole face says about each (Hu et al. 2018)."""
    channels = net.shape[-1]
    weights = tf.reduce_mean(net, [1, 2], keepdims=True)
    weights = slim.conv2d(weights, max(8, channels // ratio), [1, 1], normalizer_fn=None,
                          biases_initializer=v1.zeros_initializer(), scope='se_reduce')
    weights = slim.conv2d(weights, channels, [1, 1], normalizer_fn=None,
                          activation_fn=tf.sigmoid, biases_initializer=v1.zeros_initializer(),
                          scope='se_expand')
    return net * weights


def inverted_residual(net, expansion, out, stride, se, is_training):
    shortcut = net
    inner = net.shape[-1] * expansion
    if expansion != 1:
        net = slim.conv2d(net, inner, [1, 1], scope='expand')
    net = slim.separable_conv2d(net, None, [3, 3], depth_multiplier=1, stride=stride,
                                normalizer_fn=batch_norm,
                                normalizer_params={'is_training': is_training},
                                activation_fn=tf.nn.relu6, biases_initializer=None,
                                scope='depthwise')
    if se:
        net = squeeze_excite(net)
    net = slim.conv2d(net, out, [1, 1], activation_fn=None, scope='project')
    if stride == 1 and shortcut.shape[-1] == out:
        net += shortcut
    return net


@networks.register('mobile64', networks.Defaults(
    input_size=(72, 72), crop_size=(64, 64), channels=3, batch_size=64,
    optimizer='momentum', learning_rate=0.05, keep_prob=0.8, epochs=30, weight_decay=4e-5,
    bf16=False))
def mobile64(images, num_classes, is_training, keep_prob=0.8, weight_decay=4e-5, width=1.0):
    """Returns (logits, end_points) for a batch of [N, H, W, C] images."""
    end_points = {}
    regularizer = slim.l2_regularizer(weight_decay) if weight_decay > 0 else None
    with resnet.conv_scope(is_training, regularizer), \
            slim.arg_scope([slim.conv2d], activation_fn=tf.nn.relu6):
        net = end_points['conv1'] = slim.conv2d(images, scaled((32,), width)[0], [3, 3], 2,
                                                scope='conv1')
        for stage, (expansion, out, count, stride, se) in enumerate(STAGES, start=2):
            for b in range(count):
                with v1.variable_scope(f'block{stage}_{b + 1}'):
                    net = inverted_residual(net, expansion, scaled((out,), width)[0],
                                            stride if b == 0 else 1, se, is_training)
            end_points[f'conv{stage}'] = net
        net = end_points['conv_head'] = slim.conv2d(net, scaled((HEAD,), width)[0], [1, 1],
                                                    scope='conv_head')
    return resnet.head(net, num_classes, is_training, keep_prob, regularizer, end_points)
