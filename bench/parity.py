"""Does bfloat16 train as well as float32? The same nets, steps, data and seeds in both
precisions, judged on FairFace's held-out split and on FairFace val per race x gender.

    python -m bench.parity --nets=cnn60,cnn_bn --seeds=0,1,2 --steps=1000

Each (net, seed) trains in fp32 then in bf16, back to back; a run already in --parity_results is
not trained again, so the command resumes. The table: mean and spread over the seeds.
"""
import os

import numpy as np
from absl import app, flags

from bench import harness
from bench.study import cells  # (its flags: --fairface, --fairface_val, ...)
from common import jsonfile

flags.DEFINE_list('nets', ['cnn60', 'cnn_bn'], 'Networks to train in both precisions.')
flags.DEFINE_list('seeds', ['0', '1', '2'], 'Seeds of every (net, precision).')
flags.DEFINE_integer('steps', 1000, 'Training steps of every run.')
flags.DEFINE_string('parity_dir', 'checkpoints/parity', 'Where the runs go.')
flags.DEFINE_string('parity_results', 'bench/parity.json', 'Figures of every run (resumable).')
FLAGS = flags.FLAGS
PRECISIONS = ('fp32', 'bf16')


def run_one(net, seed, precision):
    train_dir = os.path.join(FLAGS.parity_dir, f'{net}-{precision}-{seed}')
    _, (held_out, val) = harness.trained_and_judged(
        train_dir, [f'--net={net}', '--lr_schedule=cosine', f'--max_steps={FLAGS.steps}',
                    f'--seed={seed}', f'--precision={precision}', f'--data_dir={FLAGS.fairface}'],
        (FLAGS.fairface, f'--precision={precision}'),
        (FLAGS.fairface_val, f'--precision={precision}'))
    val = cells(val)
    recorded = jsonfile.read(os.path.join(train_dir, 'run.json'))['precision']
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
            # A cell of fewer than 20 faces is not ranked (study.cells): then none may be.
            cells = [r['worst_cell'] for r in done if r['worst_cell']]
            names = ', '.join(sorted({c[0] for c in cells}))
            worst = f'{spread([c[1] for c in cells])} ({names})' if cells else '-'
            children = [r['children'] for r in done if r['children'] is not None]
            lines.append(f'| {net} | {precision} | {spread([r["held_out"] for r in done])} '
                         f'| {spread([r["val"] for r in done])} | {worst} '
                         f'| {spread(children) if children else "-"} |')
    return '\n'.join(lines)


def main(argv):
    del argv
    harness.needs_bf16('parity')
    runs = harness.Results(FLAGS.parity_results)
    for net in FLAGS.nets:
        for seed in FLAGS.seeds:
            for precision in PRECISIONS:
                key = f'{net}-{precision}-{seed}'
                if key not in runs:
                    runs.put(key, run_one(net, seed, precision))
    print(table(runs.data))


if __name__ == '__main__':
    app.run(main)
