"""The model zoo, compared: every net trained on the same split with the same time budget.

    python -m bench.zoo --data_dir=records/utkface_gender --minutes=8
    python -m bench.zoo --data_dir=records/utkface_gender --minutes=8 \
        --age_gender_dir=records/utkface_age_gender          # + the 10-class task

Each entry trains through runner.py (as a user would) into checkpoints/zoo/<name>
with a cosine schedule that ends when the budget does, then is exported; the table
reads the eval report of the best checkpoint (accuracy, recall per class, worst
race group), the exported SavedModel (parameters, size on disk, ms per face) and
the training log (images/s, wall time). A finished entry is not trained again
(its zoo.json is kept), nor one whose training ended (only measured), so an
interrupted comparison resumes; --rerun forces it.
Writes bench/zoo.json and bench/zoo.md.
"""
import glob
import json
import os
import re
import shutil
import time

import common.quiet  # noqa: E402,F401  (before TensorFlow)

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from bench import harness  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = harness.REPO
SHARED_UTKFACE = os.path.join(REPO, '..', 'shared', 'datasets', 'utkface')

# name: runner.py flags. Without a GPU, each net's own CPU defaults apply (vgg13_bn and
# the ResNets at half width); the table's "input" column says what was trained.
ZOO = {
    'nn_gender': ['--net=nn_gender'],
    'nn_gender_88': ['--net=nn_gender_88'],
    'cnn60': ['--net=cnn60'],
    'vgg13_bn': ['--net=vgg13_bn'],
    'resnet18': ['--net=resnet', '--net_options=depth=18'],
    'resnet50': ['--net=resnet', '--net_options=depth=50'],
    'res64': ['--net=res64'],
}
TASKS = {'gender': 'data_dir', 'age_gender': 'age_gender_dir'}

flags.DEFINE_string('data_dir', 'records/utkface_gender', 'TFRecords of the gender task.')
flags.DEFINE_string('age_gender_dir', None, 'TFRecords of the 10-class age x gender task '
                    '(python -m data.convert ... --utkface_label=age_gender); skipped when absent.')
flags.DEFINE_list('nets', list(ZOO), 'Zoo entries to train for the gender task.')
flags.DEFINE_list('age_gender_nets', ['nn_gender'], 'Zoo entries for the age x gender task.')
flags.DEFINE_float('minutes', 8.0, 'Training time budget of every entry.')
flags.DEFINE_string('zoo_dir', 'checkpoints/zoo', 'Where the entries train.')
flags.DEFINE_boolean('rerun', False, 'Train entries again even if they finished before.')
flags.DEFINE_string('output_dir', HERE, 'Where zoo.json and zoo.md go.')
flags.DEFINE_integer('seed', 0, 'Training seed of every entry.')
flags.DEFINE_string('cpus', None, 'Pin every training to these CPUs (taskset list, e.g. "1"), '
                    'with as many TensorFlow threads: equal conditions for every entry while '
                    'the other cores do other work.')
FLAGS = flags.FLAGS


def run(args, log_path=None):
    """runner.py with `args`, on --cpus when given."""
    prefix, threads = (), []
    if FLAGS.cpus:
        count = len(_cpu_list(FLAGS.cpus))
        prefix = ('taskset', '-c', FLAGS.cpus)
        threads = [f'--intra_op_threads={count}', f'--inter_op_threads={count}']
    return harness.runner(*args, *threads, quiet=True, log=log_path, prefix=prefix)


def _cpu_list(text):
    """'1' -> [1]; '0-1,3' -> [0, 1, 3]."""
    cpus = []
    for part in text.split(','):
        low, _, high = part.partition('-')
        cpus += list(range(int(low), int(high or low) + 1))
    return cpus


def saved_model_figures(export_dir, face_path):
    """(parameters, MB on disk, median ms per face) of an exported SavedModel."""
    import tensorflow as tf
    from PIL import Image
    size = sum(os.path.getsize(p) for p in glob.glob(os.path.join(export_dir, '**'), recursive=True)
               if os.path.isfile(p))
    model = tf.saved_model.load(export_dir)
    params = sum(int(np.prod(v.shape)) for v in model.variables
                 if '/' in v.name and 'moving_' not in v.name)
    serve = model.signatures['serving_default']
    face = tf.constant(np.asarray(Image.open(face_path).convert('RGB'))[None])
    for _ in range(5):
        serve(images=face)
    times = []
    for _ in range(30):
        start = time.perf_counter()
        serve(images=face)['probabilities'].numpy()
        times.append(time.perf_counter() - start)
    return params, size / 1e6, float(np.median(times) * 1000)


def train_entry(name, task, data_dir, flags_of_net):
    train_dir = os.path.join(FLAGS.zoo_dir, name if task == 'gender' else f'{task}_{name}')
    done_file = os.path.join(train_dir, 'zoo.json')
    if os.path.isfile(done_file) and not FLAGS.rerun:
        print(f'{task}/{name}: done before, kept ({done_file})', flush=True)
        return json.load(open(done_file))
    log_path = train_dir + '.log'
    trained = os.path.join(train_dir, 'best', 'eval.json')
    if not FLAGS.rerun and os.path.isfile(log_path) and os.path.isfile(trained) and \
            'Trained ' in open(log_path).read():
        # Trained, then stopped before its figures (an export that failed): keep the
        # training; its wall time is from the run's first file to its log.
        print(f'{task}/{name}: trained before, measuring it ...', flush=True)
        log = open(log_path).read()
        wall = os.path.getmtime(log_path) - os.path.getmtime(os.path.join(train_dir, 'run.json'))
    else:
        print(f'{task}/{name}: training for {FLAGS.minutes:g} minutes ...', flush=True)
        start = time.time()
        log = run([*flags_of_net, f'--data_dir={data_dir}',
                   f'--train_dir={train_dir}', '--fresh', '--lr_schedule=cosine',
                   f'--max_minutes={FLAGS.minutes}', '--epochs=1000', f'--seed={FLAGS.seed}'],
                  log_path)
        wall = time.time() - start
    rate = float(re.search(r'Trained \d+ steps in .*? \((\d+) img/s\)', log).group(1))
    steps = int(re.search(r'Trained (\d+) steps', log).group(1))
    report = json.load(open(os.path.join(train_dir, 'best', 'eval.json')))
    export_dir = os.path.join(train_dir, 'export_zoo')
    if os.path.isdir(export_dir):
        shutil.rmtree(export_dir)
    run(['--mode=export', *flags_of_net, f'--train_dir={train_dir}',
         f'--export_dir={export_dir}'])
    face = sorted(glob.glob(os.path.join(SHARED_UTKFACE, '*.jpg')))[0]
    params, size_mb, ms = saved_model_figures(export_dir, face)
    from core.evaluate.groups import worst_group
    worst = worst_group(report['groups'], 'race') or (None, None)
    run_file = json.load(open(os.path.join(train_dir, 'run.json')))
    entry = {'name': name, 'task': task, 'flags': flags_of_net, 'accuracy': report['accuracy'],
             'input': input_text(run_file),
             'recall': {c: r['recall'] for c, r in report['per_class'].items()},
             'worst_race': worst[0], 'worst_race_accuracy': worst[1],
             'groups': report['groups'], 'ece_before': report['calibration']['ece_before'],
             'ece_after': report['calibration']['ece_after'], 'parameters': params,
             'size_mb': size_mb, 'train_images_per_s': rate, 'steps': steps,
             'infer_ms_per_face': ms, 'wall_minutes': wall / 60, 'budget_minutes': FLAGS.minutes,
             'eval_count': report['count'], 'checkpoint': report['checkpoint']}
    with open(done_file, 'w') as f:
        json.dump(entry, f, indent=1)
    print(f'{task}/{name}: {entry["accuracy"] * 100:.2f}% in {wall / 60:.1f} min', flush=True)
    return entry


def input_text(run_file):
    """'48x48 colour, width=0.5': what the net was trained on, from its run.json."""
    height, width = run_file['crop_size']
    text = f'{height}x{width} {"colour" if run_file["channels"] == 3 else "grey"}'
    options = {k: v for k, v in (run_file.get('net_options') or {}).items() if k != 'depth'}
    return ', '.join([text] + [f'{k}={v}' for k, v in options.items()])


def markdown(entries):
    where = f' on CPU {FLAGS.cpus} only' if FLAGS.cpus else ''
    lines = [f'Model zoo: each entry trained for {FLAGS.minutes:g} minutes{where} (cosine '
             'schedule to the end of the budget) on the same split; accuracy on the held-out '
             'eval split.', '',
             '| task | net | input | accuracy | recall per class | worst race group | ages 0-9 | '
             'parameters | model MB | train images/s | ms per face | wall min |',
             '| --- | --- | --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |']
    for e in entries:
        recall = ', '.join(f'{c} {r * 100:.1f}' for c, r in e['recall'].items())
        if len(e['recall']) > 2:
            low = min(e['recall'].items(), key=lambda kv: kv[1])
            recall = f'lowest {low[0]} {low[1] * 100:.1f}'
        worst = (f'{e["worst_race"]} {e["worst_race_accuracy"] * 100:.1f}%'
                 if e['worst_race'] else '-')
        children = e['groups'].get('age', {}).get('0-9')
        children = f'{children["accuracy"] * 100:.1f}%' if children else '-'
        lines.append(f'| {e["task"]} | {e["name"]} | {e.get("input", "-")} | '
                     f'{e["accuracy"] * 100:.2f}% | {recall} | {worst} | {children} | '
                     f'{e["parameters"] / 1e6:.2f} M | {e["size_mb"]:.1f} | '
                     f'{e["train_images_per_s"]:.0f} | {e["infer_ms_per_face"]:.1f} | '
                     f'{e["wall_minutes"]:.1f} |')
    return '\n'.join(lines) + '\n'


def main(argv):
    del argv
    if FLAGS.cpus:
        os.sched_setaffinity(0, _cpu_list(FLAGS.cpus))   # the latency figures too
    entries = []
    jobs = [('gender', FLAGS.data_dir, FLAGS.nets)]
    if FLAGS.age_gender_dir:
        jobs.append(('age_gender', FLAGS.age_gender_dir, FLAGS.age_gender_nets))
    for task, data_dir, names in jobs:
        for name in names:
            if name not in ZOO:
                raise SystemExit(f'unknown zoo entry {name!r}; known: {", ".join(ZOO)}')
            entries.append(train_entry(name, task, data_dir, ZOO[name]))
            write(entries)
    print(markdown(entries))


def write(entries):
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    with open(os.path.join(FLAGS.output_dir, 'zoo.json'), 'w') as f:
        json.dump(entries, f, indent=1)
    with open(os.path.join(FLAGS.output_dir, 'zoo.md'), 'w') as f:
        f.write(markdown(entries))


if __name__ == '__main__':
    app.run(main)
