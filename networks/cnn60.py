"""cnn60: the 2020 blog's small CNN on 60x60 colour faces.

Three conv 3x3 + max-pool stages (32, 64, 128), FC 256 with dropout; a random
60 crop of the 64x64 face in training, the centre crop at eval.

    python runner.py --net=cnn60 --data_dir=records/utkface_gender
    python runner.py --net=cnn60 --net_options=width=2 ...     # every layer twice as wide
"""
import tf_slim as slim

import networks
from networks.layers import plain_cnn_scope, scaled


@networks.register('cnn60', networks.Defaults(
    input_size=(64, 64), crop_size=(60, 60), channels=3, batch_size=64,
    optimizer='adam', learning_rate=1e-3, keep_prob=0.5, epochs=15))
def cnn60(images, num_classes, is_training, keep_prob=0.5, weight_decay=0.0, width=1.0):
    """Returns (logits, end_points) for a batch of [N, 60, 60, 3] images; `width` scales
    every layer's channels and units."""
    end_points = {}
    with plain_cnn_scope(weight_decay):
        net = images
        for i, depth in enumerate(scaled((32, 64, 128), width), start=1):
            net = end_points[f'conv{i}'] = slim.conv2d(net, depth, [3, 3], scope=f'conv{i}')
            net = end_points[f'pool{i}'] = slim.max_pool2d(net, [2, 2], 2, scope=f'pool{i}')
        net = slim.flatten(net)
        net = end_points['fc1'] = slim.fully_connected(net, scaled((256,), width)[0],
                                                       scope='fc1')
        net = slim.dropout(net, keep_prob, is_training=is_training, scope='dropout_fc1')
        end_points['pre_logits'] = net
        logits = end_points['logits'] = slim.fully_connected(net, num_classes,
                                                             activation_fn=None, scope='logits')
    return logits, end_points
