"""vgg13_bn: the 2020 team project's VGG13 with batch norm.

10 conv 3x3 layers in 5 pairs (64, 128, 256, 512, 512), batch norm + ReLU after
each, max-pool after each pair; FC 256, FC 256 (each with dropout), FC to classes.
Native input is 400x300 colour (on a GPU); without one, its CPU defaults apply: 48x48
at half width (32 to 256 channels), which 2 cores train to a useful model in minutes.

    python runner.py --net=vgg13_bn --data_dir=records/utkface_gender
    python runner.py --net=vgg13_bn --input_size=96x128 --net_options=width=1 ...  # larger
"""
import tensorflow as tf
import tf_slim as slim

import networks
from networks.layers import batch_norm, scaled

v1 = tf.compat.v1


@networks.register('vgg13_bn', networks.Defaults(
    input_size=(300, 400), crop_size=(300, 400), channels=3, batch_size=30,
    optimizer='adam', learning_rate=1e-3, keep_prob=0.8, epochs=15,
    # Native width is too slow to learn anything in minutes on 2 cores (docs/networks.md).
    cpu=dict(input_size=(48, 48), crop_size=(48, 48), batch_size=32,
             net_options={'width': 0.5})))
def vgg13_bn(images, num_classes, is_training, keep_prob=0.8, weight_decay=0.0, width=1.0):
    """Returns (logits, end_points) for a batch of [N, H, W, 3] images; `width` scales
    every layer's channels (0.5: 32 to 256)."""
    end_points = {}
    regularizer = slim.l2_regularizer(weight_decay) if weight_decay > 0 else None
    with slim.arg_scope([slim.conv2d, slim.fully_connected], weights_regularizer=regularizer), \
            slim.arg_scope([slim.conv2d], kernel_size=[3, 3], padding='SAME',
                           activation_fn=tf.nn.relu, normalizer_fn=batch_norm,
                           normalizer_params={'is_training': is_training}):
        net = images
        for block, depth in enumerate(scaled((64, 128, 256, 512, 512), width), start=1):
            for layer in (1, 2):
                name = f'conv{block}_{layer}'
                net = end_points[name] = slim.conv2d(net, depth, scope=name)
            net = end_points[f'pool{block}'] = slim.max_pool2d(net, [2, 2], 2, padding='SAME',
                                                               scope=f'pool{block}')
        net = slim.flatten(net)
        for name in ('fc1', 'fc2'):
            net = end_points[name] = slim.fully_connected(net, scaled([256], width)[0], scope=name)
            net = slim.dropout(net, keep_prob, is_training=is_training, scope=f'dropout_{name}')
        end_points['pre_logits'] = net
        logits = end_points['logits'] = slim.fully_connected(net, num_classes,
                                                             activation_fn=None, scope='logits')
    return logits, end_points
