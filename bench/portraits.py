"""Faces and predictions on the 100 shared portraits: what preparation finds and keeps,
predict's end-to-end time per photo, and its accuracy against the man/ woman/ folders.

    python -m bench.portraits --train_dir=checkpoints/nn_gender
    python -m bench.portraits --train_dir=checkpoints/nn_gender --portraits=../shared/datasets/portraits

Each photo is timed from the file to its answer (decode, detect, refine, align,
classify) in one warm process. A photo's answer is its largest face; a photo
with no face found counts as wrong. Prints a table and writes JSON.
"""
import json
import os
import tempfile
import time

import common.quiet  # noqa: E402,F401  (before TensorFlow)

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

flags.DEFINE_string('train_dir', 'checkpoints/nn_gender', 'The trained model to judge.')
flags.DEFINE_string('portraits', os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), '..', 'shared', 'datasets', 'portraits'),
    'Folder with man/ and woman/ photos.')
flags.DEFINE_string('output', 'bench/portraits.json', 'Where the figures go.')
flags.DEFINE_integer('limit', 0, 'Photos of each class (the first by name; 0: all): a smoke run.')
FLAGS = flags.FLAGS
TRUTH = {'man': 'male', 'woman': 'female'}


def main(argv):
    del argv
    from core.serve import inference
    from core import config
    from core.store import runs
    from data.images import load_rgb
    from data.prepare import FaceSettings, prepare

    photos = sorted((os.path.join(folder, name), TRUTH[folder]) for folder in TRUTH
                    for name in sorted(os.listdir(os.path.join(FLAGS.portraits, folder)))
                    [:FLAGS.limit or None])
    with tempfile.TemporaryDirectory() as tmp:
        chosen = os.path.join(tmp, 'photos')          # exactly the photos timed below
        for rel, _ in photos:
            os.makedirs(os.path.join(chosen, os.path.dirname(rel)), exist_ok=True)
            os.symlink(os.path.abspath(os.path.join(FLAGS.portraits, rel)),
                       os.path.join(chosen, rel))
        report = prepare(chosen, os.path.join(tmp, 'faces'), FaceSettings(), workers=2)
    run = json.load(open(os.path.join(FLAGS.train_dir, runs.FILE)))
    cfg = config.resolve({'mode': 'predict', 'net': run['net'], 'train_dir': FLAGS.train_dir,
                          'image': FLAGS.portraits, 'backend': 'tf'},
                         explicit=set())
    net = inference.ImageModel(cfg)
    inference.find_faces(load_rgb(os.path.join(FLAGS.portraits, photos[0][0])), cfg)   # warm-up
    times, correct, no_face, rows = [], 0, 0, []
    for rel, truth in photos:
        start = time.perf_counter()
        rgb = load_rgb(os.path.join(FLAGS.portraits, rel))
        found = inference.find_faces(rgb, cfg)
        answer = None
        if found:
            box, face = max(found, key=lambda f: f[0][2] * f[0][3])
            probs = net.probabilities_of(face)
            answer = cfg.classes[int(np.argmax(probs))]
        times.append(time.perf_counter() - start)
        no_face += answer is None
        correct += answer == truth
        rows.append({'photo': rel, 'truth': truth, 'answer': answer,
                     'ms': round(times[-1] * 1000, 1)})
    ms = np.array(times) * 1000
    figures = {
        'photos': len(photos),
        'faces_found': report['photos'] - report['rejected_by_reason'].get('no face found', 0),
        'accepted_by_filter': report['accepted'],
        'rejected_by_reason': report['rejected_by_reason'],
        'predict_ms_median': round(float(np.median(ms)), 1),
        'predict_ms_p90': round(float(np.percentile(ms, 90)), 1),
        'accuracy': round(correct / len(photos), 4),
        'accuracy_where_a_face_was_found': round(correct / max(len(photos) - no_face, 1), 4),
        'no_face': no_face, 'checkpoint': net.checkpoint, 'rows': rows,
    }
    os.makedirs(os.path.dirname(FLAGS.output) or '.', exist_ok=True)
    with open(FLAGS.output, 'w') as f:
        json.dump(figures, f, indent=1)
    print(f'\nportraits: {figures["photos"]}; faces found: {figures["faces_found"]}; accepted by '
          f'the filter: {figures["accepted_by_filter"]}')
    print('rejected by reason: ' + ', '.join(f'{k} {v}' for k, v in
                                             figures['rejected_by_reason'].items()))
    print(f'predict end to end: median {figures["predict_ms_median"]} ms, '
          f'p90 {figures["predict_ms_p90"]} ms per photo')
    print(f'accuracy: {figures["accuracy"] * 100:.1f}% of all photos '
          f'({figures["accuracy_where_a_face_was_found"] * 100:.1f}% where a face was found; '
          f'{no_face} without a face) with {net.checkpoint}')
    print(f'written to {FLAGS.output}')


if __name__ == '__main__':
    app.run(main)
