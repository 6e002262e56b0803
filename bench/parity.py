"""Does bfloat16 train as well as float32? The same nets, steps, data and seeds in both
precisions, judged on FairFace's held-out split and on FairFace val per race x gender.

    python bench/parity.py --nets=cnn60,cnn_bn --seeds=0,1,2 --steps=1000

Each (net, seed) trains in fp32 then in bf16, back to back; a run already in --parity_results is
not trained again, so the command resumes. The table: mean and spread over the seeds.
"""
import json
import os
import sys

import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import base_recipes  # noqa: E402  (its flags: --fairface, --fairface_val, --steps)
from bench.study import cells  # noqa: E402  (its flags: --seed, --variants, ...)
from common import jsonfile  # noqa: E402

flags.DEFINE_list('nets', ['cnn60', 'cnn_bn'], 'Networks to train in both precisions.')
flags.DEFINE_list('seeds', ['0', '1', '2'], 'Seeds of every (net, precision).')
flags.DEFINE_string('parity_dir', 'checkpoints/parity', 'Where the runs go.')
flags.DEFINE_string('parity_results', 'bench/parity.json', 'Figures of every run (resumable).')
FLAGS = flags.FLAGS
PRECISIONS = ('fp32', 'bf16')


def run_one(net, seed, precision):
    train_dir = os.path.join(FLAGS.parity_dir, f'{net}-{precision}-{seed}')
    base_recipes.runner(f'--net={net}', f'--train_dir={train_dir}', '--lr_schedule=cosine',
                        f'--max_steps={FLAGS.steps}', f'--seed={seed}',
                        f'--precision={precision}', f'--data_dir={FLAGS.fairface}')
    held_out = base_recipes.judged(train_dir, FLAGS.fairface, f'--precision={precision}')
    val = cells(base_recipes.judged(train_dir, FLAGS.fairface_val, f'--precision={precision}'))
    with open(os.path.join(train_dir, 'run.json')) as f:
        recorded = json.load(f)['precision']
    return {'held_out': held_out['accuracy'], 'val': val['accuracy'],
            'worst_cell': val['worst_cell'], 'children': val['children'],
            'recorded_precision': recorded}


def spread(values):
    values = np.array(values) * 100
    return f'{values.mean():.2f} +- {values.std(ddof=1) if len(values) > 1 else 0:.2f}'


def table(runs):
    lines = [f'{FLAGS.steps} steps each on {FLAGS.fairface}; mean +- sd over seeds '
             f'{",".join(FLAGS.seeds)}', '',
             '| net | precision | FairFace held-out | FairFace val | weakest race x gender '
             '| children 0-9 |', '|---|---|---:|---:|---:|---:|']
    for net in FLAGS.nets:
        for precision in PRECISIONS:
            done = [runs[k] for k in (f'{net}-{precision}-{s}' for s in FLAGS.seeds) if k in runs]
            if not done:
                continue
            worst = [r['worst_cell'][1] for r in done]
            names = sorted({r['worst_cell'][0] for r in done})
            lines.append(f'| {net} | {precision} | {spread([r["held_out"] for r in done])} '
                         f'| {spread([r["val"] for r in done])} | {spread(worst)} '
                         f'({", ".join(names)}) | {spread([r["children"] for r in done])} |')
    return '\n'.join(lines)


def main(argv):
    del argv
    runs = jsonfile.read(FLAGS.parity_results) if os.path.isfile(FLAGS.parity_results) else {}
    for net in FLAGS.nets:
        for seed in FLAGS.seeds:
            for precision in PRECISIONS:
                key = f'{net}-{precision}-{seed}'
                if key not in runs:
                    runs[key] = run_one(net, seed, precision)
                    with open(FLAGS.parity_results, 'w') as f:
                        json.dump(runs, f, indent=1)
    print(table(runs))


if __name__ == '__main__':
    app.run(main)
