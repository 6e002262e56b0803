"""res64s: res64's residual body with a spatial head, on 64x64 colour faces.

res64 averages its last 4x4 map away before the classifier, so it cannot weigh where on
the face a feature lies; cnn60 (a fully connected layer over its 7x7 map) can, and wins
the children in every run of docs/base_model.md. Here the last 4x4x256 map is narrowed
by a 1x1 convolution to 32 channels, flattened (512 features, one per place and channel)
into a fully connected layer of 256 and the classifier: 0.14 M parameters more than res64
(2.92 M), the same arithmetic; 32 channels, not 64, leave a release with its lite/ files
room under tools.release's 20 MB cap (64: 19.4 of them). The flattened map fixes the input
at 64 px.

    python runner.py --net=res64s --data_dir=records/utkface_faces --lr_schedule=cosine \
        --max_minutes=45 --epochs=1000
"""
import tensorflow as tf
import tf_slim as slim

import networks
from networks import res64, resnet
from networks.layers import scaled

HEAD_CHANNELS, HEAD_UNITS = 32, 256


@networks.register('res64s', res64.DEFAULTS)
def res64s(images, num_classes, is_training, keep_prob=0.8, weight_decay=5e-5, width=1.0):
    """Returns (logits, end_points) for a batch of [N, 64, 64, C] images."""
    end_points = {}
    regularizer = slim.l2_regularizer(weight_decay) if weight_decay > 0 else None
    net = res64.body(images, is_training, regularizer, width, end_points)
    with resnet.conv_scope(is_training, regularizer):
        net = end_points['narrow'] = slim.conv2d(net, scaled((HEAD_CHANNELS,), width)[0],
                                                 [1, 1], scope='narrow')
    net = slim.flatten(net)
    net = end_points['fc'] = slim.fully_connected(
        net, scaled((HEAD_UNITS,), width)[0], activation_fn=tf.nn.relu,
        weights_regularizer=regularizer, scope='fc')
    return resnet.classifier(net, num_classes, is_training, keep_prob, regularizer, end_points)
