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
import tf_slim as slim

import networks
from networks import resnet
from networks.layers import scaled

WIDTHS, BLOCKS = (32, 64, 128, 256), (1, 2, 2, 2)     # per stage


DEFAULTS = networks.Defaults(
    input_size=(72, 72), crop_size=(64, 64), channels=3, batch_size=64,
    optimizer='momentum', learning_rate=0.05, keep_prob=0.8, epochs=30, weight_decay=5e-5)


@networks.register('res64', DEFAULTS)
def res64(images, num_classes, is_training, keep_prob=0.8, weight_decay=5e-5, width=1.0):
    """Returns (logits, end_points) for a batch of [N, H, W, C] images."""
    end_points = {}
    regularizer = slim.l2_regularizer(weight_decay) if weight_decay > 0 else None
    net = body(images, is_training, regularizer, width, end_points)
    return resnet.head(net, num_classes, is_training, keep_prob, regularizer, end_points)


def body(images, is_training, regularizer, width, end_points):
    """The stem and the four residual stages: the last map, [N, H/16, W/16, 256 * width]."""
    channels = scaled(WIDTHS, width)
    with resnet.conv_scope(is_training, regularizer):
        net = end_points['conv1'] = slim.conv2d(images, channels[0], [3, 3], scope='conv1')
        net = end_points['pool1'] = slim.max_pool2d(net, [2, 2], 2, scope='pool1')
        return resnet.stages(net, channels, BLOCKS, resnet.basic_block, is_training, end_points)
