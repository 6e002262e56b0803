"""Speed benchmark: the platform against the same network in plain Keras, on the same work.

    python -m bench.run --quick                                   # minutes; CI-sized
    python -m bench.run --smoke --rounds=1                        # that it runs (tests/)
    python -m bench.run --data_dir=records/utkface_gender         # full

Every rate is the median of several timed windows after a warm-up, and the
Keras peer (bench/keras_peer.py) runs in the same process on the same tf.data
input, so only the ratios matter: absolute numbers move between runs and
machines. Writes bench/results.json and bench/results.md.
"""
import json
import os
import sys
import tempfile
import time

import common.quiet  # noqa: E402,F401  (before TensorFlow)

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.join(os.path.dirname(HERE), '..', 'shared', 'datasets')

flags.DEFINE_boolean('quick', False, 'Few, short windows on a small dataset (for CI).')
flags.DEFINE_boolean('smoke', False, 'Every measurement at its smallest, --quick and fewer '
                     'steps still: that the bench runs (tests/), its figures mean nothing.')
flags.DEFINE_string('data_dir', None, 'TFRecords of faces (default: a UTKFace subset is '
                    'converted into a temporary folder).')
flags.DEFINE_string('train_dir', 'checkpoints/nn_gender', 'A trained nn_gender for the '
                    'predict-on-portraits figures (skipped when absent).')
flags.DEFINE_string('vgg_input_size', '48', 'Input (and crop) size vgg13_bn is measured at '
                    '(48: its CPU default, at half width, as bench/zoo.py trains it, batch 32).')
flags.DEFINE_integer('rounds', None, 'Rounds of the ours/Keras pairs, alternating, each '
                     'measurement in a fresh process; figures are medians over rounds '
                     '(default 3, 1 with --quick).')
flags.DEFINE_string('output_dir', HERE, 'Where results.json and results.md go.')
flags.DEFINE_string('int8_dir', None, 'Internal: where the int8 model the rounds measure is '
                    'written, once per run, from --train_dir.')
FLAGS = flags.FLAGS


def windows(slow=False):
    """(warm-up steps, windows, steps per window); `slow` nets (vgg13_bn: ~10 images/s
    here) get shorter windows."""
    if FLAGS.smoke:
        return (1, 2, 2)
    if FLAGS.quick:
        return (5, 3, 8)
    return (10, 5, 8) if slow else (30, 5, 30)


def mode():
    return 'smoke' if FLAGS.smoke else 'quick' if FLAGS.quick else 'full'


def size_flags():
    """The flags that give a fresh measurement process this run's size."""
    return ['--quick' if FLAGS.quick or FLAGS.smoke else '--noquick',
            '--smoke' if FLAGS.smoke else '--nosmoke']


def median_rate(stamps, per_step, steps_per_window):
    """Images/s: median over windows of `steps_per_window` consecutive step timestamps."""
    rates = []
    for start in range(0, len(stamps) - steps_per_window, steps_per_window):
        seconds = stamps[start + steps_per_window] - stamps[start]
        rates.append(steps_per_window * per_step / seconds)
    return float(np.median(rates))


def run_steps(sess, op, count):
    stamps = [time.perf_counter()]
    for _ in range(count):
        sess.run(op)
        stamps.append(time.perf_counter())
    return stamps


def platform_config(net, data_dir, **extra):
    """The configuration runner.py would resolve; --smoke: on 40 px faces unless `extra`
    names a size or a trained model (its own size), as its figures mean nothing."""
    from core import config
    if FLAGS.smoke and not {'input_size', 'train_dir'} & set(extra):
        extra = dict(extra, input_size='40')
    values = {'mode': 'train', 'net': net, 'data_dir': data_dir,
              'train_dir': tempfile.mkdtemp(), **extra}
    return config.resolve(values, explicit=set(extra))


def platform_training(cfg, slow=False):
    """Our training step (cnn.build_training, as `runner.py` trains) and the input alone."""
    import tensorflow as tf
    import cnn
    from core import model
    from data import records
    meta = records.read_meta(cfg.data_dir)
    warm, n, k = windows(slow)
    graph = tf.Graph()
    with graph.as_default():
        t = cnn.build_training(cfg, meta, steps_per_epoch=100)
        batch, train_op = t.batch, t.train_op
        init = tf.compat.v1.global_variables_initializer()
    with model.session(cfg, graph) as sess:
        sess.run([init, t.start_input])
        run_steps(sess, train_op, warm)
        train = median_rate(run_steps(sess, train_op, n * k), cfg.batch_size, k)
        run_steps(sess, batch['image'].op, warm)
        pipe = median_rate(run_steps(sess, batch['image'].op, n * k * 4), cfg.batch_size, k * 4)
    return train, pipe


def keras_training(cfg):
    """The Keras peer with model.fit on the same dataset (same decode and augmentation)."""
    import tensorflow as tf
    from bench.keras_peer import StepTimer, nn_gender_keras
    from data import pipeline
    warm, n, k = windows()
    ds = pipeline.make_dataset(cfg.data_dir, 'train', cfg.image_spec, cfg.batch_size, True,
                               cache_mb=cfg.cache_mb).map(lambda ex: (ex['image'], ex['label']))
    model = nn_gender_keras(cfg.crop_size[0], cfg.channels, cfg.num_classes, cfg.keep_prob,
                            cfg.precision)
    timer = StepTimer()
    model.fit(ds, epochs=1, steps_per_epoch=warm + n * k + 1, callbacks=[timer], verbose=0)
    del tf
    return median_rate(timer.times[warm:], cfg.batch_size, k), model


def platform_inference(cfg):
    """Batch-64 images/s and batch-1 latency (ms) of our network in eval mode."""
    import tensorflow as tf
    from core import model
    v1 = tf.compat.v1
    results = []
    for batch_size in (64, 1):
        graph = tf.Graph()
        with graph.as_default():
            x = tf.constant(np.random.rand(batch_size, *cfg.crop_size, cfg.channels)
                            .astype(np.float32))
            logits, _ = model.build_network(x, cfg, is_training=False)
            probs = tf.nn.softmax(logits)
            init = v1.global_variables_initializer()
        with model.session(cfg, graph) as sess:
            sess.run(init)
            results.append(timed_calls(lambda: sess.run(probs), batch_size))
    return results[0][0], results[1][1]


def int8_export(cfg):
    """The trained nn_gender as an int8 model, exported as --quantize=int8 does it, and its
    accuracy against fp32 on the eval split."""
    from core import checkpoints
    from core.evaluate import calibration
    from core.serve import quantize
    path = checkpoints.choose(cfg.train_dir, 'best')
    quantize.check(cfg)
    figures = quantize.export(cfg, path, calibration.temperature_for(path), FLAGS.int8_dir)
    return {'int8_faces': figures['count'], 'int8_accuracy': figures['int8_accuracy'],
            'fp32_accuracy': figures['fp32_accuracy'], 'int8_agreement': figures['agreement']}


def int8_inference(cfg):
    """Batch-64 images/s and batch-1 latency (ms) of the int8 model on LiteRT (XNNPACK)."""
    from core.serve import quantize
    net = quantize.Int8Network(os.path.join(FLAGS.int8_dir, quantize.FILE_NAME))
    results = []
    for batch_size in (64, 1):
        x = np.random.rand(batch_size, *cfg.crop_size, cfg.channels).astype(np.float32) * 2 - 1
        results.append(timed_calls(lambda: net.logits(x), batch_size))
    return results[0][0], results[1][1]


def keras_inference(model, cfg):
    results = []
    for batch_size in (64, 1):
        x = np.random.rand(batch_size, *cfg.crop_size, cfg.channels).astype(np.float32)
        results.append(timed_calls(lambda: model.predict_on_batch(x), batch_size))
    return results[0][0], results[1][1]


def timed_calls(call, batch_size):
    """(images/s, ms per call): medians over windows after a warm-up."""
    warm, n, k = windows()
    k = k * 4
    for _ in range(warm):
        call()
    stamps = [time.perf_counter()]
    for _ in range(n * k):
        call()
        stamps.append(time.perf_counter())
    per_call = np.diff(stamps)
    return median_rate(stamps, batch_size, k), float(np.median(per_call) * 1000)


def flops_per_image(cfg):
    """Forward FLOPs of one image, counted by TensorFlow's profiler on the graph itself."""
    import tensorflow as tf
    from core import model
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [1, *cfg.crop_size, cfg.channels])
        model.build_network(x, cfg, is_training=False)
        opts = v1.profiler.ProfileOptionBuilder.float_operation()
        opts['output'] = 'none'
        return v1.profiler.profile(graph, options=opts).total_float_ops


def peak_flops():
    """fp32 FLOP/s of a large matrix multiply on this machine, now (best of several)."""
    import tensorflow as tf
    n = 512 if FLAGS.smoke else 4096
    a, b = tf.random.normal([n, n]), tf.random.normal([n, n])
    matmul = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))   # a scalar back, no big copy
    matmul().numpy()
    times = []
    for _ in range(4 if FLAGS.quick else 10):
        start = time.perf_counter()
        matmul().numpy()
        times.append(time.perf_counter() - start)
    return 2 * n ** 3 / min(times)


def preparation_rate(workers, count):
    """Photos/s of data.prepare (decode, detect, align, write) on shared portraits."""
    import random
    import shutil
    from data.prepare import FaceSettings, prepare
    portraits = os.path.join(SHARED, 'portraits')
    photos = sorted(os.path.join(d, f) for d in ('man', 'woman')
                    for f in os.listdir(os.path.join(portraits, d)))
    photos = random.Random(0).sample(photos, count)
    with tempfile.TemporaryDirectory() as tmp:
        for rel in photos:
            os.makedirs(os.path.join(tmp, 'src', os.path.dirname(rel)), exist_ok=True)
            shutil.copy(os.path.join(portraits, rel), os.path.join(tmp, 'src', rel))
        start = time.perf_counter()
        prepare(os.path.join(tmp, 'src'), os.path.join(tmp, 'out'), FaceSettings(),
                workers=workers)
        return count / (time.perf_counter() - start)


def predict_portraits():
    """Median and p90 ms per portrait, end to end, with the trained model (if any)."""
    import subprocess
    if not os.path.isdir(FLAGS.train_dir):
        return None
    out = os.path.join(tempfile.mkdtemp(), 'portraits.json')
    subprocess.run([sys.executable, '-m', 'bench.portraits', f'--train_dir={FLAGS.train_dir}',
                    f'--output={out}', f'--limit={2 if FLAGS.smoke else 0}'], check=True,
                   capture_output=True, cwd=os.path.dirname(HERE))
    return json.load(open(out))


def dataset_dir():
    if FLAGS.data_dir:
        return FLAGS.data_dir
    from data.convert import convert
    out = os.path.join(tempfile.mkdtemp(), 'utk')
    convert(os.path.join(SHARED, 'utkface'), out, layout='utkface',
            limit=800 if FLAGS.quick else 4000, shard_size=200)
    return out


def measure(name, data_dir):
    """One measurement, in this process; returns a dict of figures."""
    nn = platform_config('nn_gender', data_dir)
    if name == 'train_ours':
        train, pipe = platform_training(nn)
        return {'train_ours': train, 'pipeline': pipe}
    if name == 'train_keras':
        return {'train_keras': keras_training(nn)[0]}
    if name == 'infer_ours':
        rate, latency = platform_inference(nn)
        return {'infer_ours': rate, 'latency_ours_ms': latency}
    if name == 'infer_keras':
        from bench.keras_peer import nn_gender_keras
        model = nn_gender_keras(nn.crop_size[0], nn.channels, nn.num_classes, nn.keep_prob,
                                nn.precision)
        rate, latency = keras_inference(model, nn)
        return {'infer_keras': rate, 'latency_keras_ms': latency}
    if name in ('int8_export', 'infer_int8'):
        if not os.path.isdir(FLAGS.train_dir):
            return {}                              # no trained model to quantize
        trained = platform_config('nn_gender', data_dir, mode='eval',
                                  train_dir=FLAGS.train_dir)
        if name == 'int8_export':
            return int8_export(trained)
        rate, latency = int8_inference(trained)
        return {'infer_int8': rate, 'latency_int8_ms': latency}
    if name == 'flops':
        return {'flops_forward': flops_per_image(nn), 'peak_flops': peak_flops()}
    if name == 'vgg':
        vgg = platform_config('vgg13_bn', data_dir, input_size=FLAGS.vgg_input_size,
                              crop_size=FLAGS.vgg_input_size, batch_size=32)
        train, pipe = platform_training(vgg, slow=True)
        return {'vgg_train_ours': train, 'vgg_pipeline': pipe}
    if name == 'prepare':
        count = 3 if FLAGS.smoke else 10 if FLAGS.quick else 50
        return {'prepare_1_worker': preparation_rate(1, count),
                'prepare_2_workers': preparation_rate(2, count), 'prepare_photos': count}
    if name == 'predict':
        portraits = predict_portraits()
        return {k: portraits[k] for k in ('predict_ms_median', 'predict_ms_p90')} if portraits else {}
    raise ValueError(name)


MEASUREMENTS = ('int8_export', 'flops', 'infer_ours', 'infer_keras', 'infer_int8', 'train_ours',
                'train_keras', 'vgg', 'prepare', 'predict')
PAIRED = ('train_ours', 'train_keras', 'infer_ours', 'infer_keras', 'infer_int8')
flags.DEFINE_enum('only', None, MEASUREMENTS, 'Run one measurement here and print it as JSON '
                  '(the full run starts one fresh process per measurement).')


def main(argv):
    del argv
    data_dir = dataset_dir()
    if FLAGS.only:
        print('RESULT ' + json.dumps(measure(FLAGS.only, data_dir)))
        return
    rounds = FLAGS.rounds or (1 if FLAGS.quick else 3)
    r = {'mode': mode(), 'windows': windows(),
         'vgg_input_size': FLAGS.vgg_input_size, 'rounds': rounds}
    # The ours/Keras pairs run in alternating rounds, so that a slow minute of the
    # machine falls on both sides; every other figure is measured once.
    FLAGS.int8_dir = tempfile.mkdtemp()
    order = ['int8_export'] + [name for _ in range(rounds) for name in PAIRED] + \
        [name for name in MEASUREMENTS if name not in PAIRED and name != 'int8_export']
    per_round = {}
    for index, name in enumerate(order):
        if name == 'predict' and FLAGS.quick:
            continue
        if name == 'infer_int8' and 'int8_faces' not in per_round:
            continue                               # no trained model: nothing quantized
        for key, value in run_fresh(name, data_dir, index).items():
            per_round.setdefault(key, []).append(value)
        print(f'{name}: done', flush=True)
    r.update({key: float(np.median(values)) for key, values in per_round.items()})
    r['per_round'] = {key: values for key, values in per_round.items() if len(values) > 1}
    pairs = [('train_ratio', 'train_ours', 'train_keras'),
             ('infer_ratio', 'infer_ours', 'infer_keras')]
    if 'infer_int8' in per_round:
        pairs.append(('int8_ratio', 'infer_int8', 'infer_keras'))
    for ratio, ours, theirs in pairs:
        each = np.array(per_round[ours]) / np.array(per_round[theirs])
        r[ratio], r[ratio + '_range'] = float(np.median(each)), [float(each.min()),
                                                                  float(each.max())]
    r['pipeline_over_train'] = r['pipeline'] / r['train_ours']
    r['train_bound'] = r['peak_flops'] / (3 * r['flops_forward'])   # forward + backward ~ 3x
    r['infer_bound'] = r['peak_flops'] / r['flops_forward']
    r['train_of_bound'] = r['train_ours'] / r['train_bound']
    r['infer_of_bound'] = r['infer_ours'] / r['infer_bound']
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    with open(os.path.join(FLAGS.output_dir, 'results.json'), 'w') as f:
        json.dump(r, f, indent=1)
    table = markdown(r)
    with open(os.path.join(FLAGS.output_dir, 'results.md'), 'w') as f:
        f.write(table)
    print(table)


def run_fresh(name, data_dir, index=0):
    """One measurement in a fresh process: no input threads or caches left from the last.
    --smoke measures all but the first (the `index`-th) here: imports cost most of it."""
    if FLAGS.smoke and index:
        return measure(name, data_dir)
    import subprocess
    proc = subprocess.run([sys.executable, '-m', 'bench.run', f'--only={name}',
                           f'--data_dir={data_dir}', f'--train_dir={FLAGS.train_dir}',
                           f'--vgg_input_size={FLAGS.vgg_input_size}',
                           f'--int8_dir={FLAGS.int8_dir}',
                           *size_flags()], cwd=os.path.dirname(HERE), capture_output=True,
                          text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith('RESULT ')]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f'measurement {name} failed:\n{proc.stderr[-2000:]}')
    return json.loads(lines[-1][len('RESULT '):])


def markdown(r):
    def ratio(key):
        low, high = r[key + '_range']
        spread = f' ({low:.2f}-{high:.2f})' if r['rounds'] > 1 else ''
        return f'{r[key]:.2f}x{spread}'

    rows = [
        ('nn_gender training, images/s', r['train_ours'], r['train_keras'], ratio('train_ratio')),
        ('nn_gender inference (batch 64), images/s', r['infer_ours'], r['infer_keras'],
         ratio('infer_ratio')),
        ('nn_gender single-face latency, ms', r['latency_ours_ms'], r['latency_keras_ms'],
         f'{r["latency_keras_ms"] / r["latency_ours_ms"]:.2f}x'),
    ]
    if 'infer_int8' in r:
        rows += [
            ('nn_gender inference in int8 (LiteRT, batch 64) against Keras fp32, images/s',
             r['infer_int8'], r['infer_keras'], ratio('int8_ratio')),
            ('nn_gender single-face latency, int8 against Keras fp32, ms', r['latency_int8_ms'],
             r['latency_keras_ms'], f'{r["latency_keras_ms"] / r["latency_int8_ms"]:.2f}x')]
    lines = [f'Speed benchmark ({r["mode"]} mode: warm-up, windows, steps per window = '
             f'{r["windows"]}; medians over {r["rounds"]} alternating round(s), ratio range '
             f'over rounds in brackets)', '',
             '| figure | ours | Keras | ours / Keras |', '| --- | ---: | ---: | ---: |']
    lines += [f'| {name} | {a:.1f} | {b:.1f} | {c} |' for name, a, b, c in rows]
    lines += ['', '| figure | value |', '| --- | ---: |',
              f'| input pipeline alone, images/s | {r["pipeline"]:.0f} '
              f'({r["pipeline_over_train"]:.1f}x the training step rate) |',
              f'| nn_gender forward GFLOP per image (from the graph) | '
              f'{r["flops_forward"] / 1e9:.3f} |',
              f'| measured fp32 peak (4096x4096 matmul), GFLOP/s | {r["peak_flops"] / 1e9:.0f} |',
              f'| nn_gender training, share of the arithmetic bound | '
              f'{r["train_of_bound"] * 100:.0f}% of {r["train_bound"]:.0f} images/s |',
              f'| nn_gender inference, share of the arithmetic bound | '
              f'{r["infer_of_bound"] * 100:.0f}% of {r["infer_bound"]:.0f} images/s |',
              f'| vgg13_bn training at {r["vgg_input_size"]} (batch 32, CPU width), images/s | '
              f'{r["vgg_train_ours"]:.1f} (input pipeline {r["vgg_pipeline"]:.0f}) |',
              f'| preparation (decode, detect, align, write), photos/s | '
              f'{r["prepare_1_worker"]:.2f} with 1 worker, {r["prepare_2_workers"]:.2f} with 2 '
              f'({r["prepare_photos"]:.0f} portraits, process start-up included) |']
    if 'int8_faces' in r:
        lines.append(f'| int8 model of {FLAGS.train_dir}, accuracy on its eval split '
                     f'({r["int8_faces"]:.0f} faces) | {r["int8_accuracy"] * 100:.2f}% (fp32 '
                     f'{r["fp32_accuracy"] * 100:.2f}%; same class for '
                     f'{r["int8_agreement"] * 100:.2f}%) |')
    if 'predict_ms_median' in r:
        lines.append(f'| predict on a portrait photo, end to end | median '
                     f'{r["predict_ms_median"]:.0f} ms, p90 {r["predict_ms_p90"]:.0f} ms |')
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    app.run(main)
