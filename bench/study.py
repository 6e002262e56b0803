"""Networks and recipes at one compute budget, judged per race x gender and age band.

Each variant trains on FairFace's training faces for the same budget: --minutes of
its own network's training speed on this machine, measured by a probe of every
variant's net before the first training (so run it on an idle machine); the budget is
then a number of steps, not a wall clock, so that a job beside a run cannot shorten it. Its
best checkpoint (picked on FairFace's held-out split) is then judged on FairFace val
(plain and flip averaged) and on UTKFace's held-out faces, one variant at a time.

    python -m bench.study --variants=cnn60,cnn_bn,mobile64 --minutes=20
    python -m bench.study --net=cnn_bn --variants=balance,aux,hide_hair,px96 --minutes=20

A variant is a registered network's name (that net, its defaults), or a recipe below
applied to --net. Figures go to --output after every variant; a variant already there
is not run again, so the command resumes.
"""
import os
import time

from absl import app, flags

from bench import harness

RECIPES = {
    'plain': [],
    'balance': ['--balance=0.5'],
    'aux': ['--aux_tasks=age,race'],
    'hide_hair': ['--hide_hair=0.3'],
    'hide_hair_half': ['--hide_hair=0.5'],
    'px96': ['--input_size=104', '--crop_size=96'],
    'weak_groups': ['--balance=0.5', '--hide_hair=0.3', '--aux_tasks=age,race'],
}
flags.DEFINE_string('net', 'cnn60', 'The network recipes are applied to.')
flags.DEFINE_string('fairface', 'records/fairface', 'FairFace training faces (prepared): '
                    'trained on, the best checkpoint chosen on their held-out split.')
flags.DEFINE_string('fairface_val', 'records/fairface_val', 'FairFace val (prepared), for '
                    'reporting only.')
flags.DEFINE_string('utkface', 'records/utkface_faces', 'UTKFace faces (prepared), for '
                    'reporting only.')
flags.DEFINE_list('variants', ['cnn60', 'cnn_bn', 'mobile64'], 'Networks or recipes '
                  f'({", ".join(RECIPES)}) to train and judge, one after the other.')
flags.DEFINE_float('minutes', 20, 'Budget of every variant: minutes at its net\'s probed speed.')
flags.DEFINE_integer('fixed_steps', 0, 'Steps of every variant instead of the probed budget: to add '
                     'a variant to a study probed on another machine (its table gives the steps).')
flags.DEFINE_integer('seed', 0, 'Seed of every training.')
flags.DEFINE_bool('probe_only', False, 'Probe the variants\' nets, save and stop: probed once '
                  'on an idle machine, the same steps serve every seed (copy the probes to its '
                  'results).')
flags.DEFINE_string('study_dir', 'checkpoints/study', 'Where the variants\' runs go.')
flags.DEFINE_string('results', 'bench/study.json', 'Figures of every variant (resumable).')
flags.DEFINE_list('seeds_table', [], 'Print the table of these results files (one per seed) '
                  'and stop.')
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


def probes(names, measured):
    """{'net@crop': [images/s, parameters]} of every variant's net, measured once, before
    any training, so that each is measured on the same (idle) machine."""
    measured = dict(measured)
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
    utk = [FLAGS.utkface] if utk_prepared() else []
    outcome, (held_out, val, val_flip, *utk) = harness.trained_and_judged(
        train_dir, [f'--net={net}', '--lr_schedule=cosine', f'--max_steps={steps}',
                    f'--seed={FLAGS.seed}', f'--data_dir={FLAGS.fairface}', *extra],
        FLAGS.fairface, FLAGS.fairface_val, (FLAGS.fairface_val, '--eval_flip'), *utk)
    minutes = outcome['seconds'] and outcome['seconds'] / 60   # None: trained before
    result = {'net': net, 'flags': extra, 'images_per_s': rate, 'parameters': params,
              'steps': steps, 'train_minutes': minutes, 'held_out': held_out['accuracy'],
              'fairface_val': cells(val), 'fairface_val_flip': cells(val_flip)}
    if utk:
        result['utkface'] = utk_figures(utk[0])
    return with_hair(result, train_dir)


def with_hair(result, train_dir):
    """`result` with what the model loses on FairFace val with the hair hidden
    (bench/hair.py): overall and per race x gender cell."""
    if 'hair_lost' in result:
        return result
    out = os.path.join(train_dir, 'hair.json')
    harness.command('-m', 'bench.hair', f'--train_dir={train_dir}',
                   f'--data_dir={FLAGS.fairface_val}', f'--hair_output={out}', quiet=True)
    from common import jsonfile
    hair = jsonfile.read(out)
    whole, hidden = hair['whole'], hair['hair_hidden']
    cells_lost = {name: row['accuracy'] - hidden['groups']['race x gender'][name]['accuracy']
                  for name, row in whole['groups'].get('race x gender', {}).items()
                  if row['count'] >= 20}
    result['hair_lost'] = {'all': whole['accuracy'] - hidden['accuracy'], 'cells': cells_lost}
    return result


def utk_prepared():
    return os.path.isfile(os.path.join(FLAGS.utkface, 'dataset.json'))


def utk_figures(report):
    return {'accuracy': report['accuracy'],
            'children': report['groups'].get('age', {}).get('0-9', {}).get('accuracy')}


def with_utkface(result, train_dir):
    """`result` with UTKFace's held-out figures, once its records are prepared."""
    if 'utkface' not in result and utk_prepared():
        result['utkface'] = utk_figures(harness.judged(train_dir, FLAGS.utkface)[0])
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


def named(cell):
    """'Black female 84.1' of (name, share), or '-'."""
    return f'{cell[0]} {percent(cell[1])}' if cell else '-'


def most_lost(run):
    """(cell, share) that loses most with the hair hidden, or None."""
    cells = run.get('hair_lost', {}).get('cells')
    return max(cells.items(), key=lambda cell: cell[1]) if cells else None


def seeds_table(paths):
    """Every variant over the seeds of several results files (one per seed): each seed's
    figure, '/' between them."""
    runs = [harness.Results(path).get('runs', {}) for path in paths]
    names = [n for n in runs[0] if all(n in r for r in runs)]
    lines = ['| variant | params | images/s | steps | FairFace held-out | FairFace val | flip '
             '| weakest race x gender | children 0-9 | UTKFace held-out | hair hidden: lost '
             '| lost, worst cell |', '|' + '---|' * 12]

    def each(get):
        return ' / '.join(percent(get(r[name])) for r in runs)
    for name in names:
        first = runs[0][name]
        worst = ' / '.join(named(r[name]['fairface_val']['worst_cell']) for r in runs)
        lost_cell = ' / '.join(named(most_lost(r[name])) for r in runs)
        lines.append(
            f'| {name} | {first["parameters"] / 1e6:.2f} M | {first["images_per_s"]:.0f} '
            f'| {first["steps"]} | {each(lambda r: r["held_out"])} '
            f'| {each(lambda r: r["fairface_val"]["accuracy"])} '
            f'| {each(lambda r: r["fairface_val_flip"]["accuracy"])} | {worst} '
            f'| {each(lambda r: r["fairface_val"]["children"])} '
            f'| {each(lambda r: r.get("utkface", {}).get("accuracy"))} '
            f'| {each(lambda r: r.get("hair_lost", {}).get("all"))} | {lost_cell} |')
    return '\n'.join(lines)


def main(argv):
    del argv
    if FLAGS.seeds_table:
        return print(seeds_table(FLAGS.seeds_table))
    results = harness.Results(FLAGS.results)
    for name in FLAGS.variants:
        variant_flags(name)         # every name checked before the first training
    measured = results.put('probes', probes(FLAGS.variants, results.get('probes', {})))
    if FLAGS.probe_only:
        return
    runs = results.get('runs', {})
    for name in FLAGS.variants:
        key = key_of(name)
        if key in runs:
            print(f'{key}: done already ({FLAGS.results})')
            continue
        runs[key] = run_variant(name, measured)
        results.put('runs', runs)
    for key, result in runs.items():        # records prepared, or a bench added, after it ran
        train_dir = os.path.join(FLAGS.study_dir, key)
        with_hair(with_utkface(result, train_dir), train_dir)
    results.put('runs', runs)
    budget = (f'{FLAGS.fixed_steps:,} steps of every variant' if FLAGS.fixed_steps else
              f'{FLAGS.minutes:g} minutes of each net\'s probed speed')
    print(f'\n{budget}; trained on {FLAGS.fairface}')
    print(table(runs))


if __name__ == '__main__':
    app.run(main)
