"""How small can a group's calibration error be measured? Per race x gender cell, the
expected calibration error (ECE, 15 bins) of a model's shown confidences, beside the
ECE that a perfectly calibrated model with the same confidences would show on as few
faces: each face drawn right with the probability its confidence says, many times.

    python bench/cell_ece.py --train_dir=gender_cnn60_v2 --data_dir=records/fairface_val

Where the second figure is near the first, the cell's error is mostly the noise of its
few faces; only the excess says the confidences are wrong for that group. Takes runner.py's
flags (the model, the records, --eval_flip).
"""
import json
import os
import sys

import numpy as np
from absl import app, flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from bench.hair import eval_config  # noqa: E402  (runner.py's flags, resolved for eval)

flags.DEFINE_integer('draws', 500, 'Draws of the perfectly calibrated model per cell.')
flags.DEFINE_string('ece_output', 'bench/cell_ece.json', 'Where the figures go.')
FLAGS = flags.FLAGS


def noise_floor(confidence, rng, draws):
    """(median, 90th percentile) ECE of a calibrated model: right with p = its confidence."""
    from core.evaluate.groups import group_ece as ece
    values = [ece(confidence, rng.random(len(confidence)) < confidence) for _ in range(draws)]
    return float(np.median(values)), float(np.percentile(values, 90))


def cells(out):
    """{cell name: boolean mask} of the race x gender cells of the answers `out`."""
    from core.evaluate.groups import GENDERS
    from data.sources import RACES
    races, gender = out['attr/race'], np.array(GENDERS)[out['label']]
    return {f'{RACES[r]} {g}': (races == r) & (gender == g)
            for r in sorted(set(races.tolist())) if r >= 0 for g in GENDERS}


def main(argv):
    del argv
    from core import model
    from core.evaluate import calibration
    from core.evaluate.groups import group_ece as ece
    cfg, split = eval_config()
    out, path = model.split_outputs(cfg, split, cfg.checkpoint)
    confidence = calibration.softmax(out['logits'], calibration.temperature_for(
        path, cfg.eval_flip)).max(-1)
    correct = out['label'] == out['prediction']
    rng = np.random.default_rng(0)
    rows = {}
    print(f'{path} on {cfg.data_dir}' + (', flip averaged' if cfg.eval_flip else ''))
    print('| cell | faces | accuracy | ECE | calibrated model: median | 90th pct |')
    print('|---|---:|---:|---:|---:|---:|')
    for name, inside in cells(out).items():
        if inside.sum() < 20:
            continue
        median, high = noise_floor(confidence[inside], rng, FLAGS.draws)
        rows[name] = {'count': int(inside.sum()), 'accuracy': float(correct[inside].mean()),
                      'ece': ece(confidence[inside], correct[inside]), 'floor_median': median,
                      'floor_p90': high}
        r = rows[name]
        print(f'| {name} | {r["count"]} | {r["accuracy"] * 100:.1f} | {r["ece"] * 100:.1f} | '
              f'{median * 100:.1f} | {high * 100:.1f} |')
    with open(FLAGS.ece_output, 'w') as f:
        json.dump({'checkpoint': path, 'data_dir': cfg.data_dir, 'cells': rows}, f, indent=1)


if __name__ == '__main__':
    import runner
    app.run(main, flags_parser=runner.parse_flags)
