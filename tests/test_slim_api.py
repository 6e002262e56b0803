"""Pins every tf-slim function the platform relies on, so an upgrade that breaks one fails here.

tf-slim 1.1.0 runs on current TensorFlow only in part (batch_norm and nets.* do
not); this lists the part we use and checks each one builds and runs.
"""
import numpy as np
import tensorflow as tf
import tf_slim as slim

v1 = tf.compat.v1


def test_the_slim_functions_we_use_build_and_run():
    with tf.Graph().as_default():
        x = tf.ones([2, 8, 8, 3])
        with slim.arg_scope([slim.conv2d, slim.fully_connected],
                            weights_regularizer=slim.l2_regularizer(1e-4),
                            weights_initializer=v1.glorot_uniform_initializer()):
            net = slim.conv2d(x, 4, [3, 3], padding='SAME', scope='conv',
                              normalizer_fn=lambda t: t * 1.0)
            net = slim.conv2d(net, 4, [1, 1], 2, scope='strided', biases_initializer=None,
                              weights_initializer=slim.variance_scaling_initializer())
            net = tf.image.resize(net, [8, 8])
            net = slim.max_pool2d(net, [2, 2], 2, scope='maxpool')
            net = slim.avg_pool2d(net, [2, 2], 2, scope='avgpool')
            net = slim.flatten(net)
            net = slim.dropout(net, 0.5, is_training=True)
            net = slim.fully_connected(net, 3, activation_fn=None, scope='fc')
        up = slim.conv2d_transpose(x, 5, [4, 4], 2, scope='deconv')     # dcgan's generator
        assert net.shape.as_list() == [2, 3] and up.shape.as_list() == [2, 16, 16, 5]
        assert len(v1.get_collection(v1.GraphKeys.REGULARIZATION_LOSSES)) == 3
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            assert all(np.all(np.isfinite(v)) for v in sess.run([net, up]))


def test_tensorflow_loads_without_keras_and_keras_still_loads_when_asked():
    """common.quiet declines the Keras import TensorFlow makes while loading (a third of its
    start-up); an upgrade that needs it, or a Keras that no longer loads after it, fails here."""
    import subprocess
    import sys
    from conftest import REPO
    code = ('import sys, common.quiet, tensorflow as tf, tf_slim\n'
            'print("keras" in sys.modules)\n'
            'import keras\n'
            'print(tf.keras.layers.Dense is keras.layers.Dense)\n')
    proc = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ['False', 'True'], proc.stdout
