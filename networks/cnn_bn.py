"""cnn_bn: cnn60 grown up for a 2-core CPU: batch norm, two convs a stage, global pooling.

Four stages of 3x3 conv + our batch norm + ReLU (32; 64; 128; 256, 256
channels), a 2x2 max-pool between stages, global average pooling, dropout and the
classifier. cnn60's flatten + FC 256 (most of its 2.2 M parameters) gives way to
global pooling, so the parameters go to convolutions that see the face; batch norm
lets a higher learning rate train it in the minutes this machine has.
Global pooling makes it take any input size (--input_size=104 --crop_size=96).

    python runner.py --net=cnn_bn --data_dir=records/fairface --lr_schedule=cosine \
        --max_minutes=20 --epochs=1000
"""
import tf_slim as slim

import networks
from networks import resnet
from networks.layers import scaled

STAGES = ((32,), (64,), (128,), (256, 256))     # channels of each conv, per stage


@networks.register('cnn_bn', networks.Defaults(
    input_size=(72, 72), crop_size=(64, 64), channels=3, batch_size=64,
    optimizer='momentum', learning_rate=0.05, keep_prob=0.7, epochs=30, weight_decay=5e-5))
def cnn_bn(images, num_classes, is_training, keep_prob=0.7, weight_decay=5e-5, width=1.0):
    """Returns (logits, end_points) for a batch of [N, H, W, C] images."""
    end_points = {}
    regularizer = slim.l2_regularizer(weight_decay) if weight_decay > 0 else None
    net = images
    with resnet.conv_scope(is_training, regularizer):
        for stage, depths in enumerate(STAGES, start=1):
            if stage > 1:
                net = slim.max_pool2d(net, [2, 2], 2, padding='SAME', scope=f'pool{stage - 1}')
            for i, depth in enumerate(scaled(depths, width), start=1):
                net = end_points[f'conv{stage}_{i}'] = slim.conv2d(
                    net, depth, [3, 3], scope=f'conv{stage}_{i}')
    return resnet.head(net, num_classes, is_training, keep_prob, regularizer, end_points)
