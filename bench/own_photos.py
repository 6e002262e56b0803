"""A person's own photos, the whole way through runner.py: a base model, fine-tuned on
their photos, judged on photos that neither model was trained on.

    python -m bench.own_photos                            # the released model, shared portraits
    python -m bench.own_photos --base=checkpoints/mine --photos=my_photos --folds=2

The photo folder (class folders, default: the 100 shared portraits) is split in
`--folds` parts, class by class; each part is judged by a model fine-tuned on the
others, so every photo is judged by a model that never saw it. End to end means
predict on the photo file: a photo whose face is not found counts as wrong, a
photo's answer is its largest face. Folders man/woman are read as male/female.
Prints the figures and writes them to --output (JSON).

The base: the default released model (its MODEL_CARD.md says how it was made), or any
training folder.
"""
import json
import math
import os
import random
import tempfile

from absl import app, flags

from bench import harness
from common import jsonfile
from core.store import released
import common.quiet  # noqa: E402,F401  (before TensorFlow: its start-up lines stay out)
flags.DEFINE_string('base', released.DEFAULT, 'The base model: a released model\'s name or a '
                    'train_dir.')
flags.DEFINE_string('photos', os.path.join(os.path.dirname(harness.REPO), 'shared', 'datasets',
                                           'portraits'), 'Class folders of photos.')
flags.DEFINE_integer('folds', 2, 'Parts the photos are split in (each judged by a model '
                     'fine-tuned on the others).', lower_bound=2)
flags.DEFINE_integer('seed', 0, 'Seed of the split into parts.')
flags.DEFINE_integer('run_folds', 0, 'Judge only the first this many parts (0: all; 1 for a '
                     'quick look: the figures then cover those parts\' photos only).', lower_bound=0)
flags.DEFINE_multi_string('finetune_flag', [], 'A runner.py flag for fine-tuning, e.g. '
                          '--finetune_flag=--epochs=20 (repeat it for more).')
flags.DEFINE_string('output', 'bench/own_photos.json', 'Where the figures go.')
FLAGS = flags.FLAGS
SYNONYMS = {'man': 'male', 'woman': 'female'}


def split(photos, folds, seed):
    """[{class: [file, ...]}] per fold, each class spread evenly over the folds."""
    parts = [dict() for _ in range(folds)]
    for cls in sorted(os.listdir(photos)):
        folder = os.path.join(photos, cls)
        if not os.path.isdir(folder):
            continue
        names = sorted(os.listdir(folder))
        random.Random(seed).shuffle(names)
        for i, name in enumerate(names):
            parts[i % folds].setdefault(cls, []).append(os.path.join(folder, name))
    return parts


def link_folder(root, classes):
    """A folder of class folders holding symbolic links to the photos."""
    for cls, files in classes.items():
        os.makedirs(os.path.join(root, cls), exist_ok=True)
        for path in files:
            os.symlink(os.path.abspath(path), os.path.join(root, cls, os.path.basename(path)))
    return root


def end_to_end(csv):
    """{file: (truth, answer or None, probability of the truth)} from predict's rows in
    `csv` (of a folder of class folders); a photo's answer is its largest face's."""
    from modes.predict import largest_faces
    answers = {}
    for name, row in largest_faces(csv).items():
        truth = os.path.basename(os.path.dirname(name))
        answers[name] = (truth, row['class'] or None,
                         probability_of(row, truth) if row['class'] else 0.0)
    return answers


def same_class(a, b):
    return SYNONYMS.get(a, a) == SYNONYMS.get(b, b)


def probability_of(row, truth):
    """The model's probability of the photo's own class (columns p_<class>)."""
    return next(float(v) for k, v in row.items() if k.startswith('p_') and same_class(k[2:], truth))


def accuracy(answers):
    """Overall and per-class share of photos answered with their own class, and the mean
    log-loss of the truth (finer than accuracy on a hundred photos; a miss counts as
    probability 0.01)."""
    per_class = {}
    for truth, answer, _ in answers.values():
        per_class.setdefault(truth, []).append(answer is not None and same_class(truth, answer))
    overall = [x for v in per_class.values() for x in v]
    return {'accuracy': sum(overall) / len(overall), 'count': len(overall),
            'no_face': sum(a is None for _, a, _ in answers.values()),
            'log_loss': -sum(math.log(max(p, 0.01)) for *_, p in answers.values()) / len(overall),
            'per_class': {c: sum(v) / len(v) for c, v in per_class.items()},
            'wrong': sorted(f'{t}/{os.path.basename(f)}' for f, (t, a, _) in answers.items()
                            if a is None or not same_class(t, a))}


def fold(k, parts, tmp):
    """Fine-tunes on every part but the k-th and judges base and fine-tuned on it: (the
    fold's figures, the base's answers, the fine-tuned model's answers)."""
    train = {}
    for j, part in enumerate(parts):
        if j != k:
            for cls, files in part.items():
                train.setdefault(cls, []).extend(files)
    root = os.path.join(tmp, f'fold{k}')
    train_root = link_folder(os.path.join(root, 'photos'), train)
    test_root = link_folder(os.path.join(root, 'test'), parts[k])
    prepared, tuned = os.path.join(root, 'records'), os.path.join(root, 'run')
    csvs = [os.path.join(root, f'{name}.csv') for name in ('base', 'tuned')]
    (_, seconds), *evals = harness.in_one_process(
        [f'--data_dir={train_root}', f'--prepared_dir={prepared}', f'--train_dir={tuned}',
         f'--init_from={FLAGS.base}', *FLAGS.finetune_flag],
        ['--mode=eval', f'--train_dir={FLAGS.base}', f'--data_dir={prepared}'],
        ['--mode=eval', f'--train_dir={tuned}'],
        *(['--mode=predict', f'--train_dir={model}', f'--image={test_root}', f'--output={csv}']
          for model, csv in zip((FLAGS.base, tuned), csvs)), timed=True)
    report = jsonfile.read(os.path.join(prepared, 'report.json'))
    base_eval, tuned_eval = ((r['accuracy'], r['count']) for r, _ in evals[:2])
    print(f'fold {k + 1}/{FLAGS.folds}: {report["final_images"]} of {report["photos"]} '
          f'photos kept as faces; fine-tuned in {seconds:.0f} s (with preparation); '
          f'eval split ({base_eval[1]} faces): base {base_eval[0] * 100:.1f}%, '
          f'fine-tuned {tuned_eval[0] * 100:.1f}%', flush=True)
    figures = {'photos': report['photos'], 'faces_kept': report['final_images'],
               'finetune_seconds': seconds, 'base_eval': base_eval, 'tuned_eval': tuned_eval}
    return figures, end_to_end(csvs[0]), end_to_end(csvs[1])


def main(argv):
    del argv
    parts = split(FLAGS.photos, FLAGS.folds, FLAGS.seed)
    base_answers, tuned_answers, folds = {}, {}, []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(FLAGS.run_folds or FLAGS.folds):
            figures, base, tuned = fold(k, parts, tmp)
            folds.append(figures)
            base_answers.update(base)
            tuned_answers.update(tuned)
    result = {'base': FLAGS.base, 'photos': FLAGS.photos, 'folds': folds,
              'base_end_to_end': accuracy(base_answers),
              'tuned_end_to_end': accuracy(tuned_answers)}
    for name in ('base', 'tuned'):
        r = result[f'{name}_end_to_end']
        print(f'{name:5s} end to end on {r["count"]} photos it never trained on: '
              f'{r["accuracy"] * 100:.1f}% (' + ', '.join(
                  f'{c} {v * 100:.1f}%' for c, v in r['per_class'].items())
              + f'; no face found on {r["no_face"]}); log-loss {r["log_loss"]:.3f}; wrong: '
              + ', '.join(r['wrong']))
    base_wrong, tuned_wrong = (set(result[f'{n}_end_to_end']['wrong']) for n in ('base', 'tuned'))
    print(f'fine-tuning put right {len(base_wrong - tuned_wrong)} of the base\'s '
          f'{len(base_wrong)} wrong photos and got {len(tuned_wrong - base_wrong)} others wrong')
    os.makedirs(os.path.dirname(FLAGS.output) or '.', exist_ok=True)
    with open(FLAGS.output, 'w') as f:
        json.dump(result, f, indent=1)
    print(f'written to {FLAGS.output}')


if __name__ == '__main__':
    app.run(main)
