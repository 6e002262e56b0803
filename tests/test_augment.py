"""Augmentation options of the one preprocessing path, on tiny inputs."""
import numpy as np
import tensorflow as tf

from data import preprocess


def erased(probability, seed):
    image = tf.fill([40, 30, 3], 0.5)
    return preprocess.random_erasing(image, probability, tf.constant(seed, tf.int64)).numpy()


def test_random_erasing_fills_one_rectangle_of_the_allowed_area_with_noise():
    changed_fractions = []
    for seed in range(20):
        out = erased(1.0, [seed, 0])
        changed = np.any(out != 0.5, axis=-1)
        rows, cols = np.nonzero(changed)
        assert rows.size, f'seed {seed}: nothing erased'
        box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        assert changed.sum() == box                      # one filled rectangle
        changed_fractions.append(box / changed.size)
        assert out.min() >= 0.0 and out.max() <= 1.0
    assert 0.01 <= min(changed_fractions) and max(changed_fractions) <= 0.45
    assert len(set(changed_fractions)) > 5                # sizes vary with the seed


def test_random_erasing_is_a_function_of_its_seed_and_respects_its_probability():
    np.testing.assert_array_equal(erased(1.0, [3, 1]), erased(1.0, [3, 1]))
    assert not np.array_equal(erased(1.0, [3, 1]), erased(1.0, [4, 1]))
    assert np.all(erased(0.0, [3, 1]) == 0.5)
    applied = np.mean([np.any(erased(0.5, [s, 2]) != 0.5) for s in range(200)])
    assert 0.35 < applied < 0.65


def jittered(spec_changes, seed):
    """A 10x10 colour image through train_view: an 8x8 random crop, random flip, brightness."""
    spec = preprocess.ImageSpec((10, 10), (8, 8), 3, brightness=0.2, flip=True, **spec_changes)
    colours = tf.constant(np.random.RandomState(0).randint(0, 256, [10, 10, 3]), tf.uint8)
    return (preprocess.train_view(colours, spec, tf.constant(seed, tf.int64)).numpy() + 1) / 2


def test_colour_jitter_changes_colours_by_its_seed_and_keeps_the_range():
    plain = jittered({}, [1, 2])
    for changes in ({'saturation': 0.5}, {'hue': 0.1}):
        out = jittered(changes, [1, 2])
        assert out.min() >= 0.0 and out.max() <= 1.0
        assert not np.allclose(out, plain, atol=1e-3)
        np.testing.assert_array_equal(out, jittered(changes, [1, 2]))
        assert not np.allclose(out, jittered(changes, [5, 2]), atol=1e-3)


def test_colour_changes_leave_the_crop_flip_and_brightness_as_they_were():
    """Colour draws from a key of its own: a grey face is the grey of the plain view."""
    for seed in ([1, 2], [7, 3], [4, 9]):
        plain, grey = jittered({}, seed), jittered({'grayscale': 1.0}, seed)
        expected = tf.image.rgb_to_grayscale(plain).numpy()
        np.testing.assert_allclose(grey, np.repeat(expected, 3, axis=-1), atol=1e-5)


def test_grayscale_makes_grey_faces_with_its_probability():
    grey = [np.ptp(jittered({'grayscale': 0.3}, [s, 0]), axis=-1).max() < 1e-5
            for s in range(200)]
    assert 0.18 < np.mean(grey) < 0.42
    assert all(np.ptp(jittered({'grayscale': 1.0}, [s, 0]), axis=-1).max() < 1e-5
               for s in range(5))
