"""Mixup and CutMix on tiny batches: what is mixed, with which share, and repeatably."""
import types

import numpy as np
import pytest
import tensorflow as tf

from core import config
from core.train import mixing


def settings(mixup=0.0, cutmix=0.0):
    return types.SimpleNamespace(mixup_alpha=mixup, cutmix_alpha=cutmix, num_classes=3,
                                 label_smoothing=0.0)


def batch():
    """Eight 12x10 images, image i filled with the value i."""
    return tf.constant(np.arange(8, dtype=np.float32)[:, None, None, None] * np.ones((8, 12, 10, 3),
                                                                                  np.float32))


def drawn(cfg, step, seed=7):
    return mixing.mix(batch(), tf.constant(step, tf.int64), cfg, seed)


def test_off_by_default():
    assert mixing.mix(batch(), tf.constant(0, tf.int64), settings(), 1) is None


def test_mixup_blends_each_image_with_its_partner_by_lam():
    mixed = drawn(settings(mixup=0.4), step=3)
    lam, partner, images = float(mixed.lam), mixed.partner.numpy(), mixed.images.numpy()
    assert 0.0 <= lam <= 1.0 and sorted(partner) == list(range(8))
    expected = lam * np.arange(8) + (1 - lam) * partner
    np.testing.assert_allclose(images[:, 0, 0, 0], expected, rtol=1e-5)
    assert np.ptp(images, axis=(1, 2, 3)).max() < 1e-5          # whole images blended


def test_cutmix_pastes_one_rectangle_of_the_partner_and_lam_is_the_share_left():
    shares = []
    for step in range(12):
        mixed = drawn(settings(cutmix=1.0), step)
        images, partner = mixed.images.numpy(), mixed.partner.numpy()
        for i in np.nonzero(partner != np.arange(8))[0]:
            from_partner = images[i, :, :, 0] == partner[i]
            assert np.all(from_partner | (images[i, :, :, 0] == i))
            rows, cols = np.nonzero(from_partner)
            if rows.size:                                        # one filled rectangle
                box = (np.ptp(rows) + 1) * (np.ptp(cols) + 1)
                assert from_partner.sum() == box
            np.testing.assert_allclose(float(mixed.lam), 1 - from_partner.mean(), atol=1e-6)
        shares.append(float(mixed.lam))
    assert len(set(np.round(shares, 3))) > 5                      # the area varies


def test_draws_are_a_function_of_the_seed_and_step():
    cfg = settings(cutmix=1.0)
    a, b, c = drawn(cfg, 5), drawn(cfg, 5), drawn(cfg, 6)
    np.testing.assert_array_equal(a.images.numpy(), b.images.numpy())
    assert not np.array_equal(a.images.numpy(), c.images.numpy())


def test_the_loss_is_the_same_mix_of_both_labels_losses():
    cfg = settings(mixup=1.0)
    logits = tf.constant([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    labels = tf.constant([0, 2])
    mixed = types.SimpleNamespace(partner=tf.constant([1, 0]), lam=tf.constant(0.7))
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits
    own = tf.reduce_mean(ce(labels=labels, logits=logits))
    theirs = tf.reduce_mean(ce(labels=tf.constant([2, 0]), logits=logits))
    np.testing.assert_allclose(float(mixing.loss(logits, labels, mixed, cfg)),
                               float(0.7 * own + 0.3 * theirs), rtol=1e-5)


@pytest.mark.parametrize('flags, message', [
    ({'mixup_alpha': 0.2, 'cutmix_alpha': 1.0}, '^--mixup_alpha.*--cutmix_alpha'),
    ({'cutmix_alpha': 1.0, 'aux_tasks': ['age']}, '^--aux_tasks.*--cutmix_alpha'),
    ({'mixup_alpha': 0.2, 'net': 'dcgan'}, '^--mixup_alpha.*dcgan'),
    ({'mix_data': 'records/base', 'net': 'dcgan'}, '^--mix_data.*dcgan')])
def test_mixings_that_cannot_work_are_refused(tmp_path, flags, message):
    values = {'mode': 'train', 'net': 'cnn60', 'num_classes': 2, 'train_dir': str(tmp_path),
              'input_size': None, 'crop_size': None, 'channels': None, **flags}
    with pytest.raises(config.ConfigError, match=message):
        config.resolve(values, explicit=set(flags))
