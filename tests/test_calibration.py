"""Temperature scaling and the calibration error, on synthetic logits with a known answer."""
import json

import numpy as np

from core.evaluate import calibration


def overconfident(n=20000, true_temperature=2.5, seed=0):
    """Logits whose labels were drawn from softmax(logits / T): the right answer is T."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 4, size=(n, 2))
    probs = calibration.softmax(logits, true_temperature)
    labels = (rng.random(n) < probs[:, 1]).astype(int)
    return logits, labels


def test_fit_recovers_the_temperature_the_labels_were_drawn_with():
    logits, labels = overconfident()
    assert abs(calibration.fit_temperature(logits, labels) - 2.5) < 0.15


def test_scaling_lowers_the_calibration_error_and_keeps_the_predictions():
    logits, labels = overconfident()
    record = calibration.calibrate(logits, labels, '/x/best/model.ckpt-7')
    assert record['ece_before'] > 0.05 and record['ece_after'] < 0.02
    assert record['nll_after'] < record['nll_before']
    scaled = calibration.softmax(logits, record['temperature'])
    assert np.array_equal(scaled.argmax(-1), logits.argmax(-1))


def test_expected_calibration_error_of_a_perfectly_calibrated_model_is_small():
    rng = np.random.default_rng(1)
    confidence = rng.uniform(0.5, 1.0, 50000)
    correct = rng.random(50000) < confidence
    probs = np.stack([confidence, 1 - confidence], 1)
    labels = np.where(correct, 0, 1)
    assert calibration.expected_calibration_error(probs, labels) < 0.01
    # Always 100% sure and right half the time: off by half.
    sure = np.tile([1.0, 0.0], (1000, 1))
    assert abs(calibration.expected_calibration_error(sure, np.arange(1000) % 2) - 0.5) < 1e-9


def test_temperature_belongs_to_its_checkpoint(tmp_path):
    ckpt = str(tmp_path / 'model.ckpt-40')
    assert calibration.temperature_for(ckpt) == 1.0              # none fitted yet
    with open(calibration.path_for(ckpt), 'w') as f:
        json.dump({'checkpoint': ckpt, 'temperature': 1.7}, f)
    assert calibration.temperature_for(ckpt) == 1.7
    assert calibration.temperature_for(str(tmp_path / 'model.ckpt-80')) == 1.0   # another one


def test_reliability_diagram_is_written(tmp_path):
    logits, labels = overconfident(2000)
    calibration.reliability_diagram(logits, labels, 2.5, tmp_path / 'r.png')
    assert (tmp_path / 'r.png').stat().st_size > 5000


def test_flip_averaged_logits_have_their_own_temperature(tmp_path):
    ckpt = str(tmp_path / 'model.ckpt-40')
    with open(calibration.path_for(ckpt, flip=True), 'w') as f:
        json.dump({'checkpoint': ckpt, 'temperature': 0.7}, f)
    assert calibration.temperature_for(ckpt, flip=True) == 0.7
    assert calibration.temperature_for(ckpt) == 1.0


def test_a_temperature_that_would_not_lower_the_error_is_not_applied():
    """A model already calibrated (75% sure, right 3 times in 4): T = 1 stays, and why."""
    logits = np.tile([[np.log(3.0), 0.0]], (400, 1))
    labels = np.array([0, 0, 0, 1] * 100)
    record = calibration.calibrate(logits, labels, '/x/best/model.ckpt-7')
    assert record['temperature'] == 1.0 and 'would not lower the error' in record['note']
    assert record['ece_after'] == record['ece_before']


def test_too_few_faces_give_no_temperature():
    logits, labels = overconfident()
    record = calibration.calibrate(logits[:20], labels[:20], '/x/best/model.ckpt-7')
    assert record['temperature'] == 1.0 and 'not calibrated: 20 eval faces' in record['note']


def test_the_balanced_threshold_makes_both_classes_wrong_equally_often():
    """Margins of N(-1, 1) for class 0 and N(0.5, 1) for class 1 are equally often wrong at
    -0.25: a shift of +0.25 (class 0 wrong 14% and class 1 31% before, 23% each after)."""
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1], 20000)
    margin = np.where(labels == 0, -1.0, 0.5) + rng.normal(0, 1, labels.size)
    logits = np.stack([np.zeros_like(margin), 2.0 * margin], axis=1)   # temperature 2
    balance = calibration.fit_balance(logits, labels, temperature=2.0)
    assert abs(balance['offset'] - 0.25) < 0.03, balance
    (before0, before1), (after0, after1) = balance['errors_before'], balance['errors_after']
    assert abs(before0 - 0.16) < 0.01 and abs(before1 - 0.31) < 0.01
    assert abs(after0 - after1) < 0.001 and abs(after0 - 0.23) < 0.01
    assert abs(balance['accuracy_after'] - (1 - (after0 + after1) / 2)) < 1e-9


def test_only_a_two_class_split_large_enough_gets_a_balanced_threshold():
    """A hundred faces (a fine-tuning folder's folds) fit a temperature, not a threshold."""
    logits, labels = overconfident()
    assert 'balance' in calibration.calibrate(logits, labels, '/x/model.ckpt-7')
    hundred = calibration.calibrate(logits[:100], labels[:100], '/x/model.ckpt-7')
    assert hundred['temperature'] != 1.0 and 'balance' not in hundred
    three = np.concatenate([logits, logits[:, :1]], axis=1)
    assert 'balance' not in calibration.calibrate(three, labels, '/x/model.ckpt-7')
