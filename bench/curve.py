"""What a training budget buys: held-out accuracy against minutes of training, read from a
run's TensorBoard events (the chief's eval at each checkpoint).

    python bench/curve.py --train_dir=checkpoints/base

Prints one row per evaluation (minutes since the run's first event, step, accuracy) and,
for each budget in --budgets, the best accuracy reached within it.
"""
import glob
import os
import sys

from absl import app, flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
flags.DEFINE_string('train_dir', None, 'The training folder.')
flags.DEFINE_list('budgets', ['5', '10', '15', '20', '30', '45', '55', '60', '90', '120'],
                  'Budgets in minutes to report the best accuracy within.')
FLAGS = flags.FLAGS


def evaluations(train_dir):
    """[(minutes since the first event, step, accuracy)] of every eval/accuracy summary."""
    import common.quiet  # noqa: F401
    from tensorboard.backend.event_processing import event_accumulator
    rows, start = [], None
    for path in sorted(glob.glob(os.path.join(train_dir, 'events.out.tfevents.*'))):
        events = event_accumulator.EventAccumulator(path, size_guidance={'scalars': 0})
        events.Reload()
        first = min((e.wall_time for tag in events.Tags()['scalars']
                     for e in events.Scalars(tag)), default=None)
        start = first if start is None else start
        if 'eval/accuracy' in events.Tags()['scalars']:
            rows += [((e.wall_time - start) / 60, e.step, e.value)
                     for e in events.Scalars('eval/accuracy')]
    return sorted(rows)


def main(argv):
    del argv
    if not FLAGS.train_dir:
        sys.exit('usage: python bench/curve.py --train_dir=TRAINED_RUN')
    rows = evaluations(FLAGS.train_dir)
    if not rows:
        sys.exit(f'error: no eval/accuracy summaries in {FLAGS.train_dir}')
    print('| minutes | step | held-out accuracy |\n|---:|---:|---:|')
    for minutes, step, accuracy in rows:
        print(f'| {minutes:.1f} | {step} | {accuracy * 100:.2f}% |')
    print('\n| budget, minutes | best held-out accuracy within it |\n|---:|---:|')
    for budget in (float(b) for b in FLAGS.budgets):
        within = [a for m, _, a in rows if m <= budget]
        if within and budget <= rows[-1][0] + 1:
            print(f'| {budget:g} | {max(within) * 100:.2f}% |')


if __name__ == '__main__':
    app.run(main)
