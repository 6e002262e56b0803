"""The face generator pair: trained a few steps by the one training loop on real faces,
resumed, sampled; the same seed gives the same faces; clear one-line refusals."""
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import networks
from conftest import refused, run_cli
import modes
from core import config, gan
from core.store import runs

v1 = tf.compat.v1


def test_the_generator_makes_images_in_range_for_each_class():
    net = networks.get('dcgan')
    assert net.is_gan and not networks.get('cnn60').is_gan
    with tf.Graph().as_default():
        images, end_points = net.generator(tf.random.normal([3, gan.NOISE_DIM]),
                                           tf.constant([0, 1, 1]), 2, is_training=True)
        assert images.shape.as_list() == [3, 64, 64, 3] and 'up1' in end_points
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            out = sess.run(images)
    assert np.all(np.abs(out) <= 1.0) and out.std() > 0
    np.testing.assert_allclose(gan.sample_noise(3, 4, truncation=0.5),
                               0.5 * gan.sample_noise(3, 4), rtol=1e-6)


def test_spectral_norm_scales_the_weights_to_unit_largest_singular_value():
    from networks.layers import spectral_normalized
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(3, 3, 8, 16)).astype(np.float32)
    with tf.Graph().as_default():
        v1.set_random_seed(0)            # the power iteration's start: else the run's order picks it
        normalized = spectral_normalized(tf.constant(weights), is_training=True)
        updates = v1.get_collection(v1.GraphKeys.UPDATE_OPS)
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            # One power iteration a step, as in training: 30 left one start in eight 3% off
            # (this spectrum's two largest values are close); 100 bring every start within 0.1%.
            for _ in range(100):
                out, _ = sess.run([normalized, updates])
    largest = np.linalg.svd(out.reshape(-1, 16), compute_uv=False)[0]
    assert largest == pytest.approx(1.0, abs=0.02)


def run(capsys, **flags):
    values = dict(flags)
    cfg = config.resolve(values, explicit=set(values))
    result = modes.run(cfg)
    return result, capsys.readouterr().out


def test_the_pair_trains_resumes_samples_and_generates_repeatably(generator, tmp_path, capsys):
    log = generator['log']
    assert 'd_loss' in log and 'g_loss' in log and 'samples at step 4' in log
    grid = np.asarray(Image.open(os.path.join(generator['train_dir'], gan.SAMPLES_DIR,
                                              'step-4.png')))
    assert grid.shape == (2 * 66 + 2, gan.SAMPLES_PER_CLASS * 66 + 2, 3)   # a row per class
    train_dir = str(tmp_path / 'gan')
    shutil.copytree(generator['train_dir'], train_dir)
    with open(os.path.join(train_dir, 'checkpoint')) as f:     # the copy's own paths
        index = f.read().replace(generator['train_dir'], train_dir)
    with open(os.path.join(train_dir, 'checkpoint'), 'w') as f:
        f.write(index)
    result, out = run(capsys, mode='train', net='dcgan', train_dir=train_dir, max_steps=6,
                      data_dir=generator['data_dir'], batch_size=16, log_every=2, eval_every=4)
    assert 'Resuming from step 4' in out and result.step == 6
    ckpt = tf.train.latest_checkpoint(train_dir)
    names = {name for name, _ in tf.train.list_variables(ckpt)}
    assert any(n.startswith('generator/') and n.endswith('ExponentialMovingAverage')
               for n in names) and any(n.startswith('net/conv1') for n in names)

    def generate(seed, folder):
        result, out = run(capsys, mode='generate', net='dcgan', train_dir=train_dir,
                          label='Female', count=3, seed=seed, output=str(tmp_path / folder))
        assert result['grids'] == [str(tmp_path / folder / f'female-seed{seed}.png')]
        return [np.asarray(Image.open(tmp_path / folder / f'female-seed{seed}-{i:02d}.png'))
                for i in (1, 2, 3)]
    first, again, other = generate(5, 'a'), generate(5, 'b'), generate(6, 'c')
    assert first[0].shape == (64, 64, 3)
    assert all(np.array_equal(x, y) for x, y in zip(first, again))
    assert not np.array_equal(first[0], other[0]) and not np.array_equal(first[0], first[1])
    # The discriminator is the registered network: its feature maps are there to see.
    face = tmp_path / 'face.png'
    Image.fromarray(first[0]).save(face)
    result, out = run(capsys, mode='features', net='dcgan', train_dir=train_dir,
                      image=str(face), detect='off', output=str(tmp_path / 'maps'))
    assert '01_conv1.png' in result['files'] and "discriminator's realness" in out


def classifier_only():
    """The flags whose declared readers leave out a generator pair's training."""
    from common.settings import flag_fields
    from core.config.schema import RunConfig
    found = [f.name for f in flag_fields(RunConfig) if not f.metadata['readers'].generators_train]
    assert {'optimizer', 'hide_hair', 'init_from', 'teacher', 'eval_flip'} <= set(found)
    return found


def test_an_unknown_label_or_a_classifier_mode_is_one_line(trained, tmp_path):
    write = os.path.join(tmp_path, 'gan')
    os.makedirs(write)
    with open(os.path.join(write, runs.FILE), 'w') as f:
        f.write('{"net": "dcgan", "num_classes": 2, "input_size": [64, 64], "crop_size": '
                '[64, 64], "channels": 3, "classes": ["male", "female"]}')
    cfg = config.resolve({'mode': 'generate', 'net': 'dcgan', 'train_dir': write,
                          'label': 'cat'}, explicit={'label'})
    from core.serve.generate import label_index
    assert label_index(cfg, 'Female') == label_index(cfg, 'woman') == 1
    with pytest.raises(config.ConfigError, match=r'^--label=cat.*male, female'):
        modes.run(cfg)
    with pytest.raises(config.ConfigError, match='^dcgan.*--mode='):
        config.resolve({'mode': 'eval', 'net': 'dcgan', 'train_dir': write}, explicit=set())
    with pytest.raises(config.ConfigError, match='^--num_clones.*dcgan'):
        config.resolve({'mode': 'train', 'net': 'dcgan', 'train_dir': write, 'num_clones': 2},
                       explicit={'num_clones'})
    for flag in classifier_only():                  # each flag the pair would ignore
        with pytest.raises(config.ConfigError, match=f'^--{flag}.*dcgan'):
            config.resolve({'mode': 'train', 'net': 'dcgan', 'train_dir': write},
                           explicit={flag})
    with pytest.raises(config.ConfigError, match='^--max_steps.*--mode=generate'):
        config.resolve({'mode': 'generate', 'net': 'dcgan', 'train_dir': write,
                        'max_steps': 5}, explicit={'max_steps'})
    with pytest.raises(config.ConfigError, match='--mode=generate.*--net=dcgan'):
        config.resolve({'mode': 'generate', 'train_dir': trained['train_dir']}, explicit=set())
    proc = run_cli('runner.py', '--mode=generate', f'--train_dir={write}', '--label=cat',
                   check=False)
    assert proc.returncode != 0 and 'Traceback' not in proc.stderr
    fresh = os.path.join(tmp_path, 'pair')
    ignored = run_cli('runner.py', '--net=dcgan', f'--data_dir={trained["data_dir"]}',
                      f'--train_dir={fresh}', '--optimizer=momentum', check=False,
                      process=True)
    assert ignored.returncode != 0 and not os.path.exists(fresh)
    refused(ignored, '--optimizer', 'dcgan')
    assert proc.stderr.strip().splitlines()[-1].startswith('error: --label=cat is not a class')
