"""resnet: ResNet-18 and ResNet-50 (He et al. 2016), the 2023 team's choice.

Written with slim conv layers and our own batch norm (tf_slim.nets does not run
on current TensorFlow). `depth` picks the variant: 18 uses basic blocks
(two 3x3 convs), 50 bottleneck blocks (1x1, 3x3, 1x1 with 4x expansion).
The ImageNet stem (7x7 stride-2 conv, 3x3 stride-2 max-pool) keeps the cost
CPU-sized: at the default 64x64 crop ResNet-18 is 0.36 GFLOP per face
(3.6 at ImageNet's 224; FLOPs count multiply and add) and ResNet-50 0.8. Without a
GPU both run at half width (32 to 256 channels; ResNet-50 0.2 GFLOP), their CPU default;
`--net_options=width=1` asks for the full one.

    python runner.py --net=resnet --data_dir=records/utkface_gender               # ResNet-18
    python runner.py --net=resnet --net_options=depth=50 --train_dir=checkpoints/resnet50 ...
"""
import tensorflow as tf
import tf_slim as slim

import networks
from networks.layers import batch_norm, scaled

v1 = tf.compat.v1
# depth: (block kind, blocks per stage)
VARIANTS = {18: ('basic', (2, 2, 2, 2)), 34: ('basic', (3, 4, 6, 3)),
            50: ('bottleneck', (3, 4, 6, 3))}
WIDTHS = (64, 128, 256, 512)


def basic_block(net, width, stride, is_training):
    shortcut = net
    if stride != 1 or net.shape[-1] != width:
        shortcut = slim.conv2d(net, width, [1, 1], stride, activation_fn=None,
                               normalizer_fn=batch_norm,
                               normalizer_params={'is_training': is_training}, scope='shortcut')
    net = slim.conv2d(net, width, [3, 3], stride, scope='conv1')
    net = slim.conv2d(net, width, [3, 3], activation_fn=None, scope='conv2')
    return tf.nn.relu(net + shortcut)


def _bottleneck(net, width, stride, is_training):
    out = 4 * width
    shortcut = net
    if stride != 1 or net.shape[-1] != out:
        shortcut = slim.conv2d(net, out, [1, 1], stride, activation_fn=None,
                               normalizer_fn=batch_norm,
                               normalizer_params={'is_training': is_training}, scope='shortcut')
    net = slim.conv2d(net, width, [1, 1], scope='conv1')
    net = slim.conv2d(net, width, [3, 3], stride, scope='conv2')
    net = slim.conv2d(net, out, [1, 1], activation_fn=None, scope='conv3')
    return tf.nn.relu(net + shortcut)


@networks.register('resnet', networks.Defaults(
    input_size=(72, 72), crop_size=(64, 64), channels=3, batch_size=64,
    optimizer='momentum', learning_rate=0.05, keep_prob=1.0, epochs=15, weight_decay=5e-5,
    # Half width without a GPU: full width is ~10x slower there (docs/networks.md).
    cpu=dict(net_options={'width': 0.5})))
def resnet(images, num_classes, is_training, keep_prob=1.0, weight_decay=5e-5, depth=18,
           width=1.0):
    """Returns (logits, end_points) for a batch of [N, H, W, C] images; `width` scales
    every layer's channels."""
    if depth not in VARIANTS:
        raise ValueError(f'resnet depth={depth}: choose one of {sorted(VARIANTS)}')
    kind, blocks = VARIANTS[depth]
    end_points = {}
    regularizer = slim.l2_regularizer(weight_decay) if weight_decay > 0 else None
    widths = scaled(WIDTHS, width)
    with conv_scope(is_training, regularizer):
        net = end_points['conv1'] = slim.conv2d(images, widths[0], [7, 7], 2, scope='conv1')
        net = end_points['pool1'] = slim.max_pool2d(net, [3, 3], 2, padding='SAME', scope='pool1')
        net = stages(net, widths, blocks, basic_block if kind == 'basic' else _bottleneck,
                     is_training, end_points)
    return head(net, num_classes, is_training, keep_prob, regularizer, end_points)


def conv_scope(is_training, regularizer):
    """ReLU convolutions with our batch norm, He initialisation and no biases."""
    return slim.arg_scope([slim.conv2d], padding='SAME', activation_fn=tf.nn.relu,
                          normalizer_fn=batch_norm, normalizer_params={'is_training': is_training},
                          weights_initializer=slim.variance_scaling_initializer(),
                          weights_regularizer=regularizer, biases_initializer=None)


def stages(net, widths, blocks, block, is_training, end_points):
    """Residual stages conv2, conv3, ...: `blocks[i]` blocks of `widths[i]` channels, each
    stage after the first starting with stride 2."""
    for stage, (channels, count) in enumerate(zip(widths, blocks), start=2):
        for b in range(count):
            stride = 2 if (b == 0 and stage > 2) else 1
            with v1.variable_scope(f'conv{stage}_{b + 1}'):
                net = block(net, channels, stride, is_training)
        end_points[f'conv{stage}'] = net
    return net


def head(net, num_classes, is_training, keep_prob, regularizer, end_points):
    """Global average pool, dropout and the classifier: (logits, end_points)."""
    net = end_points['pool'] = tf.reduce_mean(net, [1, 2])
    return classifier(net, num_classes, is_training, keep_prob, regularizer, end_points)


def classifier(net, num_classes, is_training, keep_prob, regularizer, end_points):
    """Dropout and the classifier layer over features [N, D]: (logits, end_points)."""
    net = slim.dropout(net, keep_prob, is_training=is_training, scope='dropout')
    end_points['pre_logits'] = net
    logits = end_points['logits'] = slim.fully_connected(
        net, num_classes, activation_fn=None, weights_regularizer=regularizer, scope='logits')
    return logits, end_points
