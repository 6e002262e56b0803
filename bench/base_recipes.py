"""Which data makes the best base? Each recipe trains the same net for the same number of
steps, one after the other, and is judged on FairFace val and on UTKFace's held-out split:
overall, per race, children 0-9.

    python bench/base_recipes.py --steps=3000
    python bench/base_recipes.py --recipes=both --steps=3000 --balanced

Recipes (classes matched by name, male/female):
    fairface  FairFace's training faces alone (records/fairface)
    utkface   UTKFace alone (records/utkface_faces)
    both      FairFace, with UTKFace's training faces mixed into every batch at their
              share of the pooled faces (--mix_data)
The best checkpoint of each is picked on its own held-out split, never on FairFace val.
Records come from data.prepare (docs/base_model.md has the commands).
"""
import json
import os
import subprocess
import sys

from absl import app, flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
flags.DEFINE_list('recipes', ['fairface', 'utkface', 'both'], 'Recipes to train and judge.')
flags.DEFINE_integer('steps', 3000, 'Training steps of every recipe (the same budget).')
flags.DEFINE_string('net', 'cnn60', 'Network of every recipe.')
flags.DEFINE_string('fairface', 'records/fairface', 'FairFace training faces (prepared).')
flags.DEFINE_string('fairface_val', 'records/fairface_val', 'FairFace val (prepared), for '
                    'reporting only.')
flags.DEFINE_string('utkface', 'records/utkface_faces', 'UTKFace faces (prepared).')
flags.DEFINE_string('runs', 'checkpoints/recipes', 'Where the recipes\' training folders go.')
flags.DEFINE_list('extra', [], 'More runner.py flags for every recipe, e.g. --seed=1.')
flags.DEFINE_string('output', 'bench/base_recipes.json', 'Where the figures go.')
FLAGS = flags.FLAGS


def recipe_flags(name):
    """runner.py flags of a recipe's training data."""
    from data import records
    if name == 'fairface':
        return [f'--data_dir={FLAGS.fairface}']
    if name == 'utkface':
        return [f'--data_dir={FLAGS.utkface}']
    if name == 'both':
        theirs = records.read_meta(FLAGS.utkface)['splits']['train']['count']
        ours = records.read_meta(FLAGS.fairface)['splits']['train']['count']
        return [f'--data_dir={FLAGS.fairface}', f'--mix_data={FLAGS.utkface}',
                f'--mix_share={theirs / (theirs + ours):.3f}']
    raise app.UsageError(f'unknown recipe {name!r} (fairface, utkface, both)')


def runner(*args):
    """Runs runner.py, its output passed through; stops the bench if it fails."""
    command = [sys.executable, os.path.join(REPO, 'runner.py'), *args]
    print('$', ' '.join(command[1:]), flush=True)
    if subprocess.run(command, cwd=REPO).returncode:
        sys.exit(f'failed: {" ".join(command[1:])}')


def judged(train_dir, data_dir, *extra):
    """The eval report of the best checkpoint of `train_dir` on `data_dir`'s eval split
    (more runner.py flags in `extra`, --eval_flip say)."""
    runner('--mode=eval', f'--train_dir={train_dir}', f'--data_dir={data_dir}', *extra)
    from core import checkpoints
    folder = os.path.dirname(checkpoints.choose(train_dir))
    own = os.path.join(folder, 'eval.json')
    other = os.path.join(folder, f'eval_{os.path.basename(os.path.normpath(data_dir))}.json')
    with open(other if os.path.isfile(other) else own) as f:
        return json.load(f)


def summary(report):
    """Overall, worst race and children 0-9 of an eval report."""
    from core.evaluate import groups
    worst = groups.worst_group(report['groups'])
    children = report['groups'].get('age', {}).get('0-9', {})
    return {'accuracy': report['accuracy'], 'worst_race': worst,
            'children': children.get('accuracy'), 'races': report['groups'].get('race'),
            'ages': report['groups'].get('age'),
            'ece': report['calibration']['ece_before'], 'count': report['count']}


def row(name, results):
    cells = [name]
    for key in ('fairface_val', 'utkface'):
        s = results[key]
        worst = f'{s["worst_race"][0]} {s["worst_race"][1] * 100:.1f}' if s['worst_race'] else '-'
        children = f'{s["children"] * 100:.1f}' if s['children'] is not None else '-'
        cells += [f'{s["accuracy"] * 100:.2f}', worst, children]
    return '| ' + ' | '.join(cells) + ' |'


def main(argv):
    del argv
    results = {}
    for name in FLAGS.recipes:
        train_dir = os.path.join(FLAGS.runs, name)
        runner(f'--net={FLAGS.net}', f'--train_dir={train_dir}', '--lr_schedule=cosine',
               f'--max_steps={FLAGS.steps}', *recipe_flags(name), *FLAGS.extra)
        results[name] = {'fairface_val': summary(judged(train_dir, FLAGS.fairface_val)),
                         'utkface': summary(judged(train_dir, FLAGS.utkface)),
                         'train_dir': train_dir, 'steps': FLAGS.steps}
    print(f'\n{FLAGS.net}, {FLAGS.steps} steps each '
          f'(FairFace val: {FLAGS.fairface_val}; UTKFace held-out: {FLAGS.utkface} eval split)')
    print('| recipe | FairFace val | worst race | children 0-9 | UTKFace held-out | worst race '
          '| children 0-9 |')
    print('|---|---|---|---|---|---|---|')
    for name, result in results.items():
        print(row(name, result))
    with open(FLAGS.output, 'w') as f:
        json.dump(results, f, indent=1)
    print(f'written to {FLAGS.output}')


if __name__ == '__main__':
    app.run(main)
