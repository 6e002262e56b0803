"""Temperature scaling: one number that makes "97%" mean right 97% of the time.

Fitted on the eval split's logits after training (Guo et al. 2017, "On
Calibration of Modern Neural Networks"), stored as `calibration.json` beside
the checkpoint it belongs to (`calibration_flip.json` for flip-averaged logits,
which need their own temperature); predict, export and the demo divide the logits
by it. Dividing by a positive number never changes the predicted class, so
accuracy is untouched.

Of a two-class model the record also holds `balance`: the shift of the second class's
scaled logit that makes both classes' error rates equal on the split (the threshold a model
should answer at when neither error is worse than the other). Eval reports it;
`tools.release --balance_errors` moves the classifier's bias by it, so that every way of
answering (TensorFlow, lite/, int8) answers at the balanced threshold.
"""
import math
import os

import numpy as np
from common import jsonfile

FILE = 'calibration.json'
# Fewer eval faces than this pick no best checkpoint and fit no temperature.
MIN_EVAL_FACES = 30
# A class's error rate of ~10% is known to about 2 points from 200 faces: fewer, and the
# balanced threshold would be fitted to a face or two (a 100-photo folder's folds).
MIN_BALANCE_FACES = 200


def nll(logits, labels, temperature=1.0):
    """Mean negative log-likelihood of the true labels under softmax(logits / T)."""
    from scipy import special         # scipy: a second's import, for fitting only
    log_probs = special.log_softmax(np.asarray(logits, np.float64) / temperature, axis=-1)
    return float(-np.mean(log_probs[np.arange(len(labels)), labels]))


def fit_temperature(logits, labels):
    """The T > 0 that minimises the NLL of the labels (a 1-D search on log T)."""
    from scipy import optimize
    result = optimize.minimize_scalar(lambda log_t: nll(logits, labels, np.exp(log_t)),
                                      bounds=(np.log(0.05), np.log(20.0)), method='bounded')
    return float(np.exp(result.x))


def fit_balance(logits, labels, temperature=1.0):
    """Of two classes: {'offset': the shift of the second class's logit / T at which both
    classes' error rates on these faces are closest to equal, 'errors_before' and
    'errors_after': [class 0's, class 1's] error rate, 'accuracy_after'}."""
    logits, labels = np.asarray(logits, np.float64) / temperature, np.asarray(labels)
    margin = logits[:, 1] - logits[:, 0]          # class 1 is answered where margin + offset > 0
    first, second = np.sort(margin[labels == 0]), np.sort(margin[labels == 1])
    values = np.unique(margin)
    thresholds = np.concatenate([[values[0] - 1.0], (values[:-1] + values[1:]) / 2,
                                 [values[-1] + 1.0]])
    wrong_first = 1.0 - np.searchsorted(first, thresholds, 'right') / len(first)
    wrong_second = np.searchsorted(second, thresholds, 'right') / len(second)
    offset = -float(thresholds[int(np.argmin(np.abs(wrong_first - wrong_second)))])

    def rates(shift):
        wrong = (margin + shift > 0).astype(int) != labels
        return [float(wrong[labels == c].mean()) for c in (0, 1)], float(1 - wrong.mean())
    before, _ = rates(0.0)
    after, accuracy = rates(offset)
    return {'offset': offset, 'errors_before': before, 'errors_after': after,
            'accuracy_after': accuracy}


def balance_shift(record):
    """The balanced threshold of a calibration record as a raise of the second class's raw
    logit (before the temperature): what eval reports and --balance_errors adds to the bias."""
    return record['balance']['offset'] * record['temperature']


def softmax(logits, temperature=1.0):
    scaled = np.asarray(logits, np.float64) / temperature
    exp = np.exp(scaled - scaled.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)


def reliability_bins(probabilities, labels, bins=15):
    """Per confidence bin: (low, high, count, mean confidence, accuracy)."""
    confidence = probabilities.max(-1)
    correct = probabilities.argmax(-1) == np.asarray(labels)
    edges = np.linspace(0.0, 1.0, bins + 1)
    rows = []
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            rows.append((float(low), float(high), int(inside.sum()),
                         float(confidence[inside].mean()), float(correct[inside].mean())))
    return rows


def expected_calibration_error(probabilities, labels, bins=15):
    """Count-weighted mean gap between confidence and accuracy over confidence bins."""
    rows = reliability_bins(probabilities, labels, bins)
    total = sum(r[2] for r in rows)
    return float(sum(r[2] * abs(r[3] - r[4]) for r in rows) / total) if total else 0.0


def calibrate(logits, labels, checkpoint, min_count=None):
    """Fits T and returns the record stored with the checkpoint. T is kept only when it
    was fitted on `min_count` faces or more and lowers the expected calibration error;
    otherwise T = 1 and 'note' says why (with the T that was fitted)."""
    min_count = MIN_EVAL_FACES if min_count is None else min_count
    labels = np.asarray(labels)
    fitted = fit_temperature(logits, labels)
    ece_before = expected_calibration_error(softmax(logits), labels)
    ece_fitted = expected_calibration_error(softmax(logits, fitted), labels)
    temperature, note = fitted, ''
    if len(labels) < min_count:
        temperature, note = 1.0, (f'not calibrated: {len(labels)} eval faces, at least '
                                  f'{min_count} wanted')
    elif ece_fitted >= ece_before:
        temperature, note = 1.0, (f'not calibrated: the fitted temperature {fitted:.3f} would '
                                  f'not lower the error ({ece_fitted * 100:.2f}% with it)')
    record = {'checkpoint': checkpoint, 'temperature': temperature, 'fitted_temperature': fitted,
              'count': int(len(labels)), 'ece_before': ece_before,
              'ece_after': expected_calibration_error(softmax(logits, temperature), labels),
              'nll_before': nll(logits, labels), 'nll_after': nll(logits, labels, temperature),
              'note': note}
    if np.shape(logits)[-1] == 2 and min(np.sum(labels == 0), np.sum(labels == 1)) >= \
            max(min_count, MIN_BALANCE_FACES):
        record['balance'] = fit_balance(logits, labels, temperature)
    return record


def path_for(checkpoint, flip=False):
    name = FILE.replace('.json', '_flip.json') if flip else FILE
    return os.path.join(os.path.dirname(checkpoint), name)


def record_for(checkpoint, flip=False):
    """The calibration record of this checkpoint and view, or None."""
    path = path_for(checkpoint, flip)
    if os.path.isfile(path):
        record = jsonfile.read(path, required=('temperature', 'checkpoint'))
        t = record['temperature']
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) \
                or t <= 0:
            raise jsonfile.Damaged(f'{path} is damaged: its temperature {t!r} is not a '
                                   'positive number')
        if os.path.basename(str(record['checkpoint'])) == os.path.basename(checkpoint):
            return record
    return None


def temperature_for(checkpoint, flip=False):
    """The temperature fitted for this checkpoint and view, or 1.0 (uncalibrated)."""
    record = record_for(checkpoint, flip)
    return float(record['temperature']) if record else 1.0


def warning_for(checkpoint, flip=False):
    """One line for predict when the model's percentages are not calibrated, else ''."""
    record = record_for(checkpoint, flip)
    if record is None:
        return 'the model is not calibrated (no evaluation yet)'
    return record.get('note', '')


def reliability_diagram(logits, labels, temperature, path, bins=15):
    """PNG: accuracy against confidence per bin, before and after scaling, with the ECEs."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.4), sharey=True)
    for ax, t, title in ((axes[0], 1.0, 'before'), (axes[1], temperature, f'after (T={temperature:.2f})')):
        probs = softmax(logits, t)
        rows = reliability_bins(probs, labels, bins)
        centres = [(r[0] + r[1]) / 2 for r in rows]
        ax.bar(centres, [r[4] for r in rows], width=1.0 / bins, edgecolor='black',
               color='#4c8bd6', label='accuracy')
        ax.bar(centres, [r[3] - r[4] for r in rows], bottom=[r[4] for r in rows],
               width=1.0 / bins, color='#e86a5b', alpha=0.5, label='gap to confidence')
        ax.plot([0, 1], [0, 1], 'k--', linewidth=1)
        ece = expected_calibration_error(probs, labels, bins)
        ax.set_title(f'{title}: ECE {ece * 100:.2f}%')
        ax.set_xlabel('confidence')
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
    axes[0].set_ylabel('accuracy')
    axes[0].legend(loc='upper left')
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
