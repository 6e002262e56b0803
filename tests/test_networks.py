"""Every registered network builds on random input (research/slim's nets_factory_test)."""
import numpy as np
import pytest
import tensorflow as tf

import networks
from networks.layers import batch_norm

v1 = tf.compat.v1
# Small sizes keep the test fast; the nets are size-agnostic up to the flatten.
TEST_SIZE = {'nn_gender': (80, 80), 'vgg13_bn': (64, 64)}
# Learning a batch needs steps: the nets of global pooling learn it at 32 px as well.
LEARN_SIZE = {'vgg13_bn': (32, 32), 'resnet': (32, 32), 'res64': (32, 32), 'mobile64': (32, 32)}


@pytest.mark.parametrize('name', networks.names())
@pytest.mark.parametrize('is_training', [True, False])
def test_every_network_builds_and_runs(name, is_training):
    net = networks.get(name)
    height, width = TEST_SIZE.get(name, net.defaults.crop_size)
    with tf.Graph().as_default() as graph:
        images = tf.random.uniform([2, height, width, net.defaults.channels], -1.0, 1.0)
        logits, end_points = net.fn(images, num_classes=5, is_training=is_training)
        assert logits.shape.as_list() == [2, 5]
        assert end_points and all(isinstance(v, tf.Tensor) for v in end_points.values())
        assert any(k.startswith('conv') for k in end_points)
        params = sum(np.prod(v.shape.as_list()) for v in graph.get_collection('trainable_variables'))
        print(f'{name}: {params:,} parameters at {height}x{width}')
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            out = sess.run(logits)
        assert out.shape == (2, 5) and np.all(np.isfinite(out))


# mobile64's depthwise gradients take ~20 s on 2 cores at any size: the full suite's.
@pytest.mark.parametrize('name', [
    pytest.param(n, marks=pytest.mark.slow) if n == 'mobile64' else n
    for n in networks.names() if not networks.get(n).is_gan])
def test_every_classifier_learns_a_batch(name):
    """A few training steps on one fixed batch lower its loss: gradients reach the weights,
    and batch norm's statistics are updated (the trainer's UPDATE_OPS)."""
    net = networks.get(name)
    height, width = LEARN_SIZE.get(name, TEST_SIZE.get(name, net.defaults.crop_size))
    with tf.Graph().as_default():
        v1.set_random_seed(0)
        v1.train.get_or_create_global_step()
        images = tf.constant(np.random.default_rng(0).uniform(
            -1, 1, [8, height, width, net.defaults.channels]), tf.float32)
        labels = tf.constant([0, 1] * 4)
        logits, _ = net.fn(images, num_classes=2, is_training=True, keep_prob=1.0)
        loss = v1.losses.sparse_softmax_cross_entropy(labels, logits)
        with tf.control_dependencies(v1.get_collection(v1.GraphKeys.UPDATE_OPS)):
            step = v1.train.AdamOptimizer(1e-3).minimize(loss)
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            losses = [sess.run([loss, step])[0] for _ in range(15)]
    assert losses[-1] < losses[0] * 0.8, losses


def test_unknown_network_lists_the_valid_names():
    with pytest.raises(KeyError, match='nn_gender.*vgg13_bn|vgg13_bn.*nn_gender'):
        networks.get('no_such_net')


def test_every_network_module_registers_the_network_of_its_name():
    """networks.names() lists module names without importing them (no TensorFlow for a
    flag's check): each module must register exactly its own name."""
    import importlib
    import pkgutil
    for name in networks.names():
        assert networks.get(name).name == name
    for module in pkgutil.iter_modules(networks.__path__):
        if module.name in networks.HELPERS:
            importlib.import_module(f'networks.{module.name}')
    assert sorted(networks._REGISTRY) == networks.names()


def test_defaults_are_consistent():
    for name in networks.names():
        d = networks.get(name).defaults
        assert all(c <= i for c, i in zip(d.crop_size, d.input_size)), name
        assert d.channels in (1, 3) and 0 < d.keep_prob <= 1 and d.batch_size > 0


def test_batch_norm_updates_moving_averages_in_training_and_uses_them_at_eval():
    rng = np.random.default_rng(0)
    data = (rng.normal(3.0, 2.0, size=(64, 4, 4, 8))).astype(np.float32)
    with tf.Graph().as_default():
        x = v1.placeholder(tf.float32, [None, 4, 4, 8])
        with v1.variable_scope('bn'):
            train_out = batch_norm(x, is_training=True, decay=0.5)
        with v1.variable_scope('bn', reuse=True):
            eval_out = batch_norm(x, is_training=False)
        updates = v1.get_collection(v1.GraphKeys.UPDATE_OPS)
        assert len(updates) == 2
        mean_var = [v for v in v1.global_variables() if 'moving_mean' in v.name][0]
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            for _ in range(20):
                sess.run([train_out] + updates, {x: data})
            moving_mean = sess.run(mean_var)
            # The moving mean learnt the data's mean (3.0), not the initial zeros.
            np.testing.assert_allclose(moving_mean, data.mean(axis=(0, 1, 2)), atol=0.05)
            # Eval uses the moving statistics: one image alone normalises as it does in a batch.
            alone = sess.run(eval_out, {x: data[:1]})
            in_batch = sess.run(eval_out, {x: data})[:1]
            np.testing.assert_allclose(alone, in_batch, atol=1e-5)
            assert abs(float(sess.run(eval_out, {x: data}).mean())) < 0.1


def test_flip_averaging_is_the_mean_of_the_image_and_its_mirror():
    from core import config, model
    cfg = config.RunConfig(net='nn_gender', num_classes=2, keep_prob=1.0, weight_decay=0.0,
                           eval_flip=True)
    with tf.Graph().as_default():
        v1.set_random_seed(0)
        images = tf.random.uniform([3, 80, 80, 1], -1.0, 1.0)
        averaged, end_points = model.inference_logits(images, cfg, temperature=2.0)
        plain, _ = model.build_network(images, cfg, is_training=False, reuse=True)
        mirrored, _ = model.build_network(tf.reverse(images, [2]), cfg, False, reuse=True)
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            a, p, m, conv1 = sess.run([averaged, plain, mirrored, end_points['conv1']])
    np.testing.assert_allclose(a, (p + m) / 4.0, rtol=1e-4, atol=1e-5)    # / 2 views / T = 2
    assert conv1.shape[0] == 3


@pytest.mark.parametrize('depth, blocks', [(18, 8), (50, 16)])
def test_resnet_depth_flag_picks_the_variant(depth, blocks):
    net = networks.get('resnet')
    with tf.Graph().as_default() as graph:
        images = tf.zeros([1, 64, 64, 3])
        logits, end_points = net.fn(images, num_classes=2, is_training=False, depth=depth)
        names = {v.op.name.split('/')[0] for v in graph.get_collection('variables')}
        assert len([n for n in names if n.startswith('conv') and '_' in n]) == blocks
        assert end_points['conv5'].shape.as_list()[-1] == (512 if depth == 18 else 2048)
    with pytest.raises(ValueError, match='depth'):
        with tf.Graph().as_default():
            net.fn(tf.zeros([1, 64, 64, 3]), num_classes=2, is_training=False, depth=19)


def test_nn_gender_88_fits_the_posts_model_size():
    net = networks.get('nn_gender_88')
    with tf.Graph().as_default() as graph:
        net.fn(tf.zeros([1, 88, 88, 1]), num_classes=2, is_training=False)
        params = sum(np.prod(v.shape.as_list()) for v in graph.get_collection('variables'))
    assert params * 4 <= 6.9e6


def test_batch_norm_statistics_warm_up_with_the_global_step():
    """At step 0 the moving mean moves 90% of the way to the batch mean (decay 1/10),
    not 1% (0.99): a net evaluated after a few hundred steps is not judged with the
    initial zeros and ones."""
    data = np.full((8, 2, 2, 3), 5.0, np.float32)
    with tf.Graph().as_default():
        step = v1.train.get_or_create_global_step()
        batch_norm(tf.constant(data), is_training=True, decay=0.99)
        moving_mean = [v for v in v1.global_variables() if 'moving_mean' in v.name][0]
        updates = v1.get_collection(v1.GraphKeys.UPDATE_OPS)
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            sess.run(updates)
            np.testing.assert_allclose(sess.run(moving_mean), 4.5, rtol=1e-5)
            sess.run([v1.assign(step, 100_000)])
            sess.run(updates)        # late in training: the decay is the one asked for
            np.testing.assert_allclose(sess.run(moving_mean), 4.5 + 0.01 * 0.5, rtol=1e-5)


@pytest.mark.parametrize('name, options, layer, channels', [
    ('vgg13_bn', {'width': 0.5}, 'conv1_1', 32), ('vgg13_bn', {}, 'conv5_2', 512),
    ('resnet', {'width': 0.5}, 'conv5', 256), ('resnet', {'depth': 50, 'width': 0.5}, 'conv5', 1024),
    ('res64', {'width': 2}, 'conv5', 512)])
def test_width_scales_every_layers_channels(name, options, layer, channels):
    with tf.Graph().as_default():
        images = tf.zeros([1, 48, 48, 3])
        _, end_points = networks.get(name).fn(images, 2, is_training=False, **options)
        assert end_points[layer].shape[-1] == channels


def test_cpu_defaults_apply_only_without_a_gpu():
    d = networks.get('vgg13_bn').defaults
    assert d.for_device(gpu=True) is d and d.for_device(gpu=True).input_size == (300, 400)
    cpu = d.for_device(gpu=False)
    assert cpu.input_size == (48, 48) and cpu.net_options == {'width': 0.5}
    assert cpu.optimizer == d.optimizer and cpu.cpu is None
    cnn60 = networks.get('cnn60').defaults
    assert cnn60.for_device(gpu=False) is cnn60        # small nets need no CPU size
