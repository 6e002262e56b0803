"""nn_gender: the 2017 blog post's gender network.

100x100 grayscale faces, a random 80x80 crop in training (the centre crop at
eval), 3 conv + 3 FC layers with dropout.

    python runner.py --net=nn_gender --data_dir=records/utkface_gender
"""
import tensorflow as tf
import tf_slim as slim

import networks

v1 = tf.compat.v1
INITIALIZERS = {   # name: (weights, biases)
    'post': (lambda: v1.truncated_normal_initializer(stddev=0.01),
             lambda: v1.constant_initializer(0.1)),
    'glorot': (v1.glorot_uniform_initializer, v1.zeros_initializer),
}


@networks.register('nn_gender', networks.Defaults(
    input_size=(100, 100), crop_size=(80, 80), channels=1, batch_size=64,
    optimizer='adam', learning_rate=1e-3, keep_prob=0.7, epochs=15))
def nn_gender(images, num_classes, is_training, keep_prob=0.7, weight_decay=0.0, init='glorot'):
    """Returns (logits, end_points) for a batch of [N, 80, 80, 1] images.

    init='glorot' (default): Glorot-uniform weights, zero biases; init='post': the post's
    N(0, 0.01) weights and 0.1 biases, which learn slower (docs/networks.md).
    """
    end_points = {}

    def keep(name, net):
        end_points[name] = net
        return net

    regularizer = slim.l2_regularizer(weight_decay) if weight_decay > 0 else None
    with slim.arg_scope([slim.conv2d, slim.fully_connected],
                        activation_fn=tf.nn.relu,
                        weights_initializer=INITIALIZERS[init][0](),
                        biases_initializer=INITIALIZERS[init][1](),
                        weights_regularizer=regularizer), \
            slim.arg_scope([slim.conv2d, slim.max_pool2d, slim.avg_pool2d], padding='SAME'):
        net = keep('conv1', slim.conv2d(images, 32, [8, 8], scope='conv1'))
        net = keep('pool1', slim.avg_pool2d(net, [2, 2], 2, scope='pool1'))
        net = keep('conv2', slim.conv2d(net, 64, [5, 5], scope='conv2'))
        net = keep('pool2', slim.max_pool2d(net, [2, 2], 2, scope='pool2'))
        net = keep('conv3', slim.conv2d(net, 128, [3, 3], scope='conv3'))
        net = keep('pool3', slim.max_pool2d(net, [2, 2], 2, scope='pool3'))
        net = slim.flatten(net)
        for name, width in (('fc1', 1024), ('fc2', 512), ('fc3', 128)):
            net = keep(name, slim.fully_connected(net, width, scope=name))
            net = slim.dropout(net, keep_prob, is_training=is_training, scope=f'dropout_{name}')
        end_points['pre_logits'] = net
        logits = keep('logits', slim.fully_connected(net, num_classes, activation_fn=None,
                                                     scope='logits'))
    return logits, end_points
