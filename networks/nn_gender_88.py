"""nn_gender_88: the 2017 post's improved, smaller network.

88x88 grayscale input (a random 88 crop of the 100x100 face in training, the
centre crop at eval), four conv 3x3/5x5 + max-pool stages and one small FC
layer, so the model file stays under the post's 6.9 MB (about 1.6 M
parameters, 6.3 MB of float32 weights).

    python runner.py --net=nn_gender_88 --data_dir=records/utkface_gender
"""
import tf_slim as slim

import networks
from networks.layers import plain_cnn_scope


@networks.register('nn_gender_88', networks.Defaults(
    input_size=(100, 100), crop_size=(88, 88), channels=1, batch_size=64,
    optimizer='adam', learning_rate=1e-3, keep_prob=0.5, epochs=15))
def nn_gender_88(images, num_classes, is_training, keep_prob=0.5, weight_decay=0.0):
    """Returns (logits, end_points) for a batch of [N, 88, 88, 1] images."""
    end_points = {}
    with plain_cnn_scope(weight_decay):
        net = images
        for i, (depth, kernel) in enumerate(((32, 5), (64, 3), (128, 3), (256, 3)), start=1):
            net = end_points[f'conv{i}'] = slim.conv2d(net, depth, [kernel, kernel],
                                                       scope=f'conv{i}')
            net = end_points[f'pool{i}'] = slim.max_pool2d(net, [2, 2], 2, scope=f'pool{i}')
        net = slim.flatten(net)
        net = end_points['fc1'] = slim.fully_connected(net, 128, scope='fc1')
        net = slim.dropout(net, keep_prob, is_training=is_training, scope='dropout_fc1')
        end_points['pre_logits'] = net
        logits = end_points['logits'] = slim.fully_connected(net, num_classes,
                                                             activation_fn=None, scope='logits')
    return logits, end_points
