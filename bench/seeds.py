"""The same training with several seeds: mean and spread of the held-out accuracy.

    python -m bench.seeds --name=nn_gender --seeds=0,1,2 -- \
        --net=nn_gender --data_dir=records/utkface_gender --epochs=15

Everything after `--` goes to runner.py unchanged; each seed trains into
checkpoints/seeds/<name>/seed<k> with --seed=k (the split itself stays the one
of the dataset). Finished seeds are kept, so an interrupted series resumes with
the same command. Writes bench/seeds_<name>.json and .md: accuracy per seed,
mean and standard deviation, and the same per race and age group.
"""
import json
import os
import time

import numpy as np
from absl import app, flags

from bench import harness

HERE = os.path.dirname(os.path.abspath(__file__))

flags.DEFINE_string('name', None, 'Name of this recipe (its folder and result files).')
flags.DEFINE_list('seeds', ['0', '1', '2'], 'Seeds to train with.')
flags.DEFINE_string('seeds_dir', 'checkpoints/seeds', 'Where the runs go.')
flags.DEFINE_string('output_dir', HERE, 'Where seeds_<name>.json and .md go.')
flags.mark_flag_as_required('name')
FLAGS = flags.FLAGS


def train(seed, runner_flags):
    train_dir = os.path.join(FLAGS.seeds_dir, FLAGS.name, f'seed{seed}')
    done = os.path.join(train_dir, 'seed_done.json')
    if os.path.isfile(done):
        print(f'seed {seed}: done before, kept', flush=True)
        return json.load(open(done))
    print(f'seed {seed}: training into {train_dir}', flush=True)
    start = time.time()
    harness.runner(*runner_flags, f'--train_dir={train_dir}', f'--seed={seed}',
                   log=train_dir.rstrip('/') + '.log')
    report = json.load(open(os.path.join(train_dir, 'best', 'eval.json')))
    result = {'seed': int(seed), 'accuracy': report['accuracy'], 'groups': report['groups'],
              'ece_before': report['calibration']['ece_before'],
              'ece_after': report['calibration']['ece_after'],
              'temperature': report['calibration']['temperature'],
              'checkpoint': report['checkpoint'], 'minutes': (time.time() - start) / 60}
    with open(done, 'w') as f:
        json.dump(result, f, indent=1)
    print(f'seed {seed}: {result["accuracy"] * 100:.2f}% in {result["minutes"]:.1f} min', flush=True)
    return result


def summary(results, runner_flags):
    acc = np.array([r['accuracy'] for r in results]) * 100
    lines = [f'`{FLAGS.name}`: runner.py {" ".join(runner_flags)}', '',
             f'held-out accuracy over seeds {", ".join(str(r["seed"]) for r in results)}: '
             f'**{acc.mean():.2f}% +- {acc.std(ddof=1) if len(acc) > 1 else 0:.2f}** '
             f'(min {acc.min():.2f}, max {acc.max():.2f}; per seed '
             f'{", ".join(f"{a:.2f}" for a in acc)})', '',
             f'expected calibration error: {np.mean([r["ece_before"] for r in results]) * 100:.2f}% '
             f'before, {np.mean([r["ece_after"] for r in results]) * 100:.2f}% after temperature '
             'scaling (mean over seeds)', '', '| group | mean accuracy | spread (sd) | count |',
             '| --- | ---: | ---: | ---: |']
    for grouping in results[0]['groups']:
        for name, row in results[0]['groups'][grouping].items():
            values = np.array([r['groups'][grouping][name]['accuracy'] for r in results]) * 100
            spread = values.std(ddof=1) if len(values) > 1 else 0.0
            lines.append(f'| {grouping}: {name} | {values.mean():.2f}% | {spread:.2f} | '
                         f'{row["count"]} |')
    return '\n'.join(lines) + '\n'


def main(argv):
    runner_flags = argv[1:]
    if not runner_flags:
        raise SystemExit('give the runner.py flags after --, e.g. -- --net=nn_gender '
                         '--data_dir=records/utkface_gender')
    os.makedirs(os.path.join(FLAGS.seeds_dir, FLAGS.name), exist_ok=True)
    results = [train(seed, runner_flags) for seed in FLAGS.seeds]
    table = summary(results, runner_flags)
    with open(os.path.join(FLAGS.output_dir, f'seeds_{FLAGS.name}.json'), 'w') as f:
        json.dump({'runner_flags': runner_flags, 'results': results}, f, indent=1)
    with open(os.path.join(FLAGS.output_dir, f'seeds_{FLAGS.name}.md'), 'w') as f:
        f.write(table)
    print(table)


if __name__ == '__main__':
    app.run(main)
