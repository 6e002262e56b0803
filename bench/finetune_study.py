"""Fine-tuning on a group the base is weak on: how many faces help, and what to train.

The user of this study has photos of one group (FairFace's children 0-9 by default, or one
race): `--sizes` faces per class of that group, drawn from FairFace's prepared training
faces, are fine-tuned on from `--base`; every model is judged on FairFace val (the group's
faces there, and everyone else, so that a gain for the group is not paid by the rest).

    python bench/finetune_study.py --train_faces=records/fairface --val=records/fairface_val

Options (`--options`), each a set of runner.py flags on top of the fine-tuning defaults:
'default' is what a user gets (judged by folds, the base kept when it is not beaten);
the others keep the fine-tuned weights themselves (--folds=0 --base_share=0) and change one
thing: what trains, the learning rate, the epochs, the share of the base mixed back.
Figures go to --results after every run; a run already there is not run again.
Caveat: the released base trained on FairFace's training faces, these among them.
"""
import csv
import glob
import json
import os
import random
import shutil
import subprocess
import sys

from absl import app, flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
import common.quiet  # noqa: E402,F401  (before TensorFlow: its start-up lines stay out)

KEPT = ['--folds=0', '--base_share=0']       # the fine-tuned weights, not judged by folds
OPTIONS = {
    'default': [],
    'all': KEPT,
    'head': KEPT + ['--trainable_scopes=net/logits'],
    'last_block': KEPT + ['--trainable_scopes=net/fc1,net/logits'],    # cnn60's
    'lr_x3': KEPT + ['--learning_rate=3e-4'],
    'epochs_10': KEPT + ['--epochs=10'],
    'epochs_60': KEPT + ['--epochs=60'],
    'share_0.5': ['--folds=0', '--base_share=0.5'],
}
CLASSES = ('male', 'female')
RACES = ('White', 'Black', 'Latino_Hispanic', 'East Asian', 'Southeast Asian', 'Indian',
         'Middle Eastern')
flags.DEFINE_string('train_faces', 'records/fairface', 'FairFace\'s prepared training '
                    'records (its faces/ folder is read).')
flags.DEFINE_string('val', 'records/fairface_val', 'FairFace val, prepared (eval split).')
flags.DEFINE_string('group', 'children', 'children (ages 0-9) or a race: ' + ', '.join(RACES))
flags.DEFINE_list('sizes', ['25', '50', '100', '200', '400'], 'Faces per class.')
flags.DEFINE_list('options', ['default', 'all'], 'Run at every size: ' + ', '.join(OPTIONS))
flags.DEFINE_list('options_at_100', ['head', 'last_block', 'lr_x3', 'epochs_10', 'epochs_60',
                                     'share_0.5'], 'Run at 100 faces per class only.')
flags.DEFINE_string('base', 'gender_cnn60_v2', 'The released model fine-tuned from.')
flags.DEFINE_integer('seed', 0, 'Seed of the draw of faces and of the trainings.')
flags.DEFINE_string('work', 'checkpoints/finetune_study', 'Faces, records and runs.')
flags.DEFINE_string('results', 'bench/finetune_study.json', 'Figures (resumable).')
FLAGS = flags.FLAGS


def in_group(row):
    if FLAGS.group == 'children':
        return int(row['age']) < 10
    return int(row['race']) == RACES.index(FLAGS.group)


def group_faces():
    """{class: [(face file, row)]} of the group's training faces, shuffled by the seed."""
    by_class = {}
    for table in sorted(glob.glob(os.path.join(FLAGS.train_faces, 'faces', '*.csv'))):
        root = os.path.dirname(table)
        with open(table, newline='') as f:
            for row in csv.DictReader(f):
                if in_group(row):
                    by_class.setdefault(row['label'], []).append((os.path.join(root, row['path']),
                                                                  row))
    rng = random.Random(FLAGS.seed)
    for faces in by_class.values():
        faces.sort(key=lambda face: face[0])
        rng.shuffle(faces)
    return by_class


def records_of(size, by_class):
    """Records of the first `size` faces of each class (so a smaller set lies inside a larger
    one), made from hard links to the prepared faces (a CSV names files in its folder)."""
    out = os.path.join(FLAGS.work, f'records-{size}')
    if os.path.isfile(os.path.join(out, 'dataset.json')):
        return out
    folder = os.path.join(FLAGS.work, f'faces-{size}')
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    with open(os.path.join(folder, 'faces.csv'), 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['path', 'label', 'split', 'age', 'race'])
        for index, label in enumerate(CLASSES):     # FairFace's order, so that val matches
            for path, row in by_class[label][:size]:
                name = os.path.basename(path)
                os.link(path, os.path.join(folder, name))
                writer.writerow([name, index, 'train', row['age'], row['race']])
    run('-m', 'data.convert', f'--src={folder}/faces.csv', '--layout=csv', f'--out={out}',
        f'--label_names={",".join(CLASSES)}')
    return out


def run(*args):
    """A command of this repository, its output shown and returned; stops the study if it fails."""
    command = [sys.executable, *args]
    print('$', ' '.join(args), flush=True)
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    print(proc.stdout[-2500:], flush=True)
    if proc.returncode:
        sys.exit(f'failed ({proc.returncode}): {" ".join(args)}\n{proc.stderr[-3000:]}')
    return proc.stdout


def judged(train_dir):
    """FairFace val's figures of the model in `train_dir` (or a released model)."""
    run('runner.py', '--mode=eval', f'--train_dir={train_dir}', f'--data_dir={FLAGS.val}')
    from core import checkpoints
    from core.store import released
    folder = released.work_folder(os.path.dirname(checkpoints.choose(train_dir)))
    with open(os.path.join(folder, f'eval_{os.path.basename(os.path.normpath(FLAGS.val))}'
                                   '.json')) as f:
        report = json.load(f)
    groups = report['groups']
    group = groups['age']['0-9'] if FLAGS.group == 'children' else groups['race'][FLAGS.group]
    rest = (report['accuracy'] * report['count'] - group['accuracy'] * group['count']) / \
        (report['count'] - group['count'])
    return {'group': group['accuracy'], 'group_count': group['count'], 'rest': rest,
            'all': report['accuracy']}


def fine_tuned(option, size, by_class):
    data = records_of(size, by_class)
    train_dir = os.path.join(FLAGS.work, f'{option}-{size}')
    out = run('runner.py', f'--init_from={FLAGS.base}', f'--data_dir={data}',
              f'--train_dir={train_dir}', f'--seed={FLAGS.seed}', *OPTIONS[option])
    result = judged(train_dir)
    result['folds'] = [line.strip() for line in out.splitlines()
                       if line.startswith(('judged by', '  the base', '  by the base', 'kept:',
                                           'fine-tuning did not'))]
    return result


def table(results):
    base = results['base']
    lines = [f'| option | faces per class | {FLAGS.group} (FairFace val) | gain | everyone else |',
             '|---|---|---|---|---|',
             f'| base ({FLAGS.base}) | 0 | {base["group"] * 100:.1f} | | {base["rest"] * 100:.1f} |']
    for key, r in results['runs'].items():
        option, size = key.rsplit('-', 1)
        lines.append(f'| {option} | {size} | {r["group"] * 100:.1f} | '
                     f'{(r["group"] - base["group"]) * 100:+.1f} | {r["rest"] * 100:.1f} |')
    return '\n'.join(lines)


def save(results):
    with open(FLAGS.results, 'w') as f:
        json.dump(results, f, indent=1)


def main(argv):
    del argv
    plan = [(o, int(s)) for s in FLAGS.sizes for o in FLAGS.options] + \
        [(o, 100) for o in FLAGS.options_at_100]
    unknown = sorted({o for o, _ in plan} - set(OPTIONS))
    if unknown:
        sys.exit(f'error: unknown option(s) {", ".join(unknown)} (known: {", ".join(OPTIONS)})')
    os.makedirs(FLAGS.work, exist_ok=True)
    results = {'group': FLAGS.group, 'base': None, 'runs': {}}
    if os.path.isfile(FLAGS.results):
        with open(FLAGS.results) as f:
            results = json.load(f)
    if not results['base']:
        results['base'] = judged(os.path.join('models', FLAGS.base))
        save(results)
    by_class = group_faces()
    for option, size in plan:
        if f'{option}-{size}' not in results['runs']:
            results['runs'][f'{option}-{size}'] = fine_tuned(option, size, by_class)
            save(results)
            print(table(results), flush=True)
    print(table(results))


if __name__ == '__main__':
    app.run(main)
