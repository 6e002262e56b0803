"""Networks and recipes at one compute budget, judged per race x gender and age band.

Each variant trains on FairFace's training faces for the same budget: --minutes of
its own network's training speed on this machine, measured by a probe of every
variant's net before the first training (so run it on an idle machine); the budget is
then a number of steps, not a wall clock, so that a job beside a run cannot shorten it. Its
best checkpoint (picked on FairFace's held-out split) is then judged on FairFace val
(plain and flip averaged) and on UTKFace's held-out faces, one variant at a time.

    python bench/study.py --variants=cnn60,cnn_bn,mobile64 --minutes=20
    python bench/study.py --net=cnn_bn --variants=balance,aux,hide_hair,px96 --minutes=20

A variant is a registered network's name (that net, its defaults), or a recipe below
applied to --net. Figures go to --output after every variant; a variant already there
is not run again, so the command resumes.
"""
import json
import os
import sys
import time

from absl import app, flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from bench import base_recipes  # noqa: E402  (its flags: --fairface, --fairface_val, --utkface)

RECIPES = {
    'plain': [],
    'balance': ['--balance=0.5'],
    'aux': ['--aux_tasks=age,race'],
    'hide_hair': ['--hide_hair=0.3'],
    'hide_hair_half': ['--hide_hair=0.5'],
    'px96': ['--input_size=104', '--crop_size=96'],
    'weak_groups': ['--balance=0.5', '--hide_hair=0.3', '--aux_tasks=age,race'],
}
flags.DEFINE_list('variants', ['cnn60', 'cnn_bn', 'mobile64'], 'Networks or recipes '
                  f'({", ".join(RECIPES)}) to train and judge, one after the other.')
flags.DEFINE_float('minutes', 20, 'Budget of every variant: minutes at its net\'s probed speed.')
flags.DEFINE_integer('fixed_steps', 0, 'Steps of every variant instead of the probed budget: to add '
                     'a variant to a study probed on another machine (its table gives the steps).')
flags.DEFINE_integer('seed', 0, 'Seed of every training.')
flags.DEFINE_bool('probe_only', False, 'Probe the variants\' nets, save and stop: probed once on an '
                  'idle machine, the same steps serve every seed (copy the probes to its results).')
flags.DEFINE_string('study_dir', 'checkpoints/study', 'Where the variants\' runs go.')
flags.DEFINE_string('results', 'bench/study.json', 'Figures of every variant (resumable).')
FLAGS = flags.FLAGS


def variant_flags(name):
    """(net, runner.py flags) of a variant."""
    import networks
    if name in networks.names():
        return name, []
    if name not in RECIPES:
        raise app.UsageError(f'unknown variant {name!r}: a network ({", ".join(networks.names())})'
                             f' or a recipe ({", ".join(RECIPES)})')
    return FLAGS.net, RECIPES[name]


def probe(net_name, crop, batch=64, warmup=5, steps=30):
    """Training images/s of `net_name` at `crop` px on this machine: forward, backward and
    update of random batches (the input pipeline, cached, is not the bottleneck)."""
    import numpy as np
    import tensorflow as tf
    import networks
    from core import config, model, precision
    v1 = tf.compat.v1
    net = networks.get(net_name)
    with tf.Graph().as_default() as graph:
        images = tf.random.uniform([batch, crop, crop, net.defaults.channels], -1.0, 1.0)
        labels = tf.random.uniform([batch], 0, 2, tf.int32)
        v1.train.get_or_create_global_step()
        logits, _ = net.fn(images, 2, True)
        loss = v1.losses.sparse_softmax_cross_entropy(labels, logits)
        with tf.control_dependencies(v1.get_collection(v1.GraphKeys.UPDATE_OPS)):
            step = v1.train.MomentumOptimizer(0.01, 0.9).minimize(loss)
        params = int(sum(np.prod(v.shape.as_list()) for v in v1.trainable_variables()))
        # In the precision runner.py's --precision=auto takes on this machine.
        cfg = config.RunConfig(precision=precision.decide('auto', net=net).name)
        with model.session(cfg, graph) as sess:
            sess.run(v1.global_variables_initializer())
            for _ in range(warmup):
                sess.run(step)
            start = time.perf_counter()
            for _ in range(steps):
                sess.run(step)
            return batch * steps / (time.perf_counter() - start), params


def crop_of(net, extra):
    import networks
    sizes = [f.split('=')[1] for f in extra if f.startswith('--crop_size=')]
    return int(sizes[0]) if sizes else networks.get(net).defaults.crop_size[0]


def cells(report):
    """The FairFace-val figures of one eval report."""
    groups = report['groups']
    crossed = {n: r for n, r in groups.get('race x gender', {}).items() if r['count'] >= 20}
    worst = min(crossed.items(), key=lambda item: item[1]['accuracy']) if crossed else None
    return {'accuracy': report['accuracy'], 'worst_cell': worst and [worst[0],
                                                                     worst[1]['accuracy']],
            'children': groups.get('age', {}).get('0-9', {}).get('accuracy'),
            'max_cell_ece': max((r['ece'] for r in crossed.values()), default=None),
            'race_x_gender': groups.get('race x gender'), 'age': groups.get('age')}


def key_of(name):
    """A recipe's results and run are named after the net it was applied to."""
    return f'{FLAGS.net}-{name}' if name in RECIPES else name


def probes(names, results):
    """{'net@crop': [images/s, parameters]} of every variant's net, measured once, before
    any training, so that each is measured on the same (idle) machine."""
    measured = results.setdefault('probes', {})
    for name in names:
        net, extra = variant_flags(name)
        key = f'{net}@{crop_of(net, extra)}'
        if key not in measured:
            measured[key] = probe(net, crop_of(net, extra))
            print(f'probe {key}: {measured[key][0]:.0f} training images/s, '
                  f'{measured[key][1]:,} parameters', flush=True)
    return measured


def run_variant(name, measured):
    net, extra = variant_flags(name)
    rate, params = measured[f'{net}@{crop_of(net, extra)}']
    steps = FLAGS.fixed_steps or int(FLAGS.minutes * 60 * rate / 64)
    train_dir = os.path.join(FLAGS.study_dir, key_of(name))
    start = time.time()
    base_recipes.runner(f'--net={net}', f'--train_dir={train_dir}', '--lr_schedule=cosine',
                        f'--max_steps={steps}', f'--seed={FLAGS.seed}',
                        f'--data_dir={FLAGS.fairface}', *extra)
    minutes = (time.time() - start) / 60
    held_out = base_recipes.judged(train_dir, FLAGS.fairface)
    result = {'net': net, 'flags': extra, 'images_per_s': rate, 'parameters': params,
              'steps': steps, 'train_minutes': minutes, 'held_out': held_out['accuracy'],
              'fairface_val': cells(base_recipes.judged(train_dir, FLAGS.fairface_val))}
    result['fairface_val_flip'] = cells(base_recipes.judged(train_dir, FLAGS.fairface_val,
                                                            '--eval_flip'))
    return with_utkface(result, train_dir)


def with_utkface(result, train_dir):
    """`result` with UTKFace's held-out figures, once its records are prepared."""
    if 'utkface' not in result and os.path.isfile(os.path.join(FLAGS.utkface, 'dataset.json')):
        utk = base_recipes.judged(train_dir, FLAGS.utkface)
        result['utkface'] = {'accuracy': utk['accuracy'], 'children': utk['groups'].get(
            'age', {}).get('0-9', {}).get('accuracy')}
    return result


def percent(value):
    return '-' if value is None else f'{value * 100:.1f}'


def table(results):
    lines = ['| variant | net, flags | images/s | steps | FairFace held-out | FairFace val '
             '| flip averaged | worst race x gender | children 0-9 | worst cell ECE '
             '| UTKFace held-out | UTKFace 0-9 |', '|' + '---|' * 12]
    for name, r in results.items():
        val, utk = r['fairface_val'], r.get('utkface', {})
        worst = f'{val["worst_cell"][0]} {percent(val["worst_cell"][1])}' if val['worst_cell'] \
            else '-'
        lines.append(f'| {name} | {r["net"]} {" ".join(r["flags"])} | {r["images_per_s"]:.0f} '
                     f'| {r["steps"]} | {percent(r["held_out"])} | {percent(val["accuracy"])} '
                     f'| {percent(r["fairface_val_flip"]["accuracy"])} | {worst} '
                     f'| {percent(val["children"])} | {percent(val["max_cell_ece"])} '
                     f'| {percent(utk.get("accuracy"))} | {percent(utk.get("children"))} |')
    return '\n'.join(lines)


def save(results):
    with open(FLAGS.results, 'w') as f:
        json.dump(results, f, indent=1)


def main(argv):
    del argv
    results = {}
    if os.path.isfile(FLAGS.results):
        with open(FLAGS.results) as f:
            results = json.load(f)
    for name in FLAGS.variants:
        variant_flags(name)         # every name checked before the first training
    measured = probes(FLAGS.variants, results)
    if FLAGS.probe_only:
        return save(results)
    runs = results.setdefault('runs', {})
    for name in FLAGS.variants:
        key = key_of(name)
        if key in runs:
            print(f'{key}: done already ({FLAGS.results})')
            continue
        runs[key] = run_variant(name, measured)
        save(results)
    for key, result in runs.items():        # records prepared after the variant ran
        with_utkface(result, os.path.join(FLAGS.study_dir, key))
    save(results)
    print(f'\n{FLAGS.minutes:g} minutes of each net\'s probed speed; trained on {FLAGS.fairface}')
    print(table(runs))


if __name__ == '__main__':
    app.run(main)
