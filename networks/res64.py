"""res64: a small residual net made for a 2-core CPU, on 64x64 colour faces.

A 3x3 stem at full resolution and a 2x2 max-pool, then four stages of basic
residual blocks (32, 64, 128, 256 channels; 1, 2, 2, 2 blocks, each later stage
halving the size) with our batch norm, global average pooling, dropout and the
classifier: 2.8 M parameters, 0.26 GFLOP a face (cnn60: 0.08, ResNet-18 at
64: 0.36), sized so that 45 minutes on 2 cores is some 30 epochs of UTKFace.
Global pooling makes it take any input size (--input_size=104 --crop_size=96).

    python runner.py --net=res64 --data_dir=records/utkface_faces --lr_schedule=cosine \
        --max_minutes=45 --epochs=1000
"""
import tensorflow as tf
import tf_slim as slim

import networks
from networks.layers import batch_norm, scaled
from networks.resnet import basic_block

v1 = tf.compat.v1
STAGES = ((32, 1), (64, 2), (128, 2), (256, 2))     # (channels, blocks)


@networks.register('res64', networks.Defaults(
    input_size=(72, 72), crop_size=(64, 64), channels=3, batch_size=64,
    optimizer='momentum', learning_rate=0.05, keep_prob=0.8, epochs=30, weight_decay=5e-5))
def res64(images, num_classes, is_training, keep_prob=0.8, weight_decay=5e-5, width=1.0):
    """Returns (logits, end_points) for a batch of [N, H, W, C] images."""
    end_points = {}
    regularizer = slim.l2_regularizer(weight_decay) if weight_decay > 0 else None
    channels = scaled([c for c, _ in STAGES], width)
    with slim.arg_scope([slim.conv2d], padding='SAME', activation_fn=tf.nn.relu,
                        normalizer_fn=batch_norm, normalizer_params={'is_training': is_training},
                        weights_initializer=slim.variance_scaling_initializer(),
                        weights_regularizer=regularizer, biases_initializer=None):
        net = end_points['conv1'] = slim.conv2d(images, channels[0], [3, 3], scope='conv1')
        net = end_points['pool1'] = slim.max_pool2d(net, [2, 2], 2, scope='pool1')
        for stage, (depth, (_, blocks)) in enumerate(zip(channels, STAGES), start=2):
            for b in range(blocks):
                stride = 2 if (b == 0 and stage > 2) else 1
                with v1.variable_scope(f'conv{stage}_{b + 1}'):
                    net = basic_block(net, depth, stride, is_training)
            end_points[f'conv{stage}'] = net
    net = end_points['pool'] = tf.reduce_mean(net, [1, 2])
    net = slim.dropout(net, keep_prob, is_training=is_training, scope='dropout')
    end_points['pre_logits'] = net
    logits = end_points['logits'] = slim.fully_connected(
        net, num_classes, activation_fn=None, weights_regularizer=regularizer, scope='logits')
    return logits, end_points
