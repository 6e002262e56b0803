"""bfloat16 against float32, like for like, in one run: every registered classifier trained
and evaluated through the platform in both precisions, the machine's peak in each, and
the Keras peer on the same work with the same policy.

    python -m bench.precision                       # a UTKFace subset, 3 alternating rounds
    python -m bench.precision --quick --rounds=1    # minutes
    python -m bench.precision --smoke --rounds=1    # that it runs (tests/); figures mean nothing

Training runs `cnn.build_training` on the real input pipeline (TFRecords, augmentation),
as runner.py trains; eval runs the network in eval mode on batches of 64. Every figure is
measured in a fresh process; fp32 and bf16 alternate within each round, so a slow minute
of the machine falls on both, and only the ratios carry over between machines. Writes
bench/precision.json and bench/precision.md (the table of docs/measurements.md).
"""
import json
import os
import subprocess
import sys
import time

from bench import run as speed  # noqa: E402  (its flags: --quick, --smoke, --data_dir, --rounds)
from bench.harness import REPO, needs_bf16  # noqa: E402

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

# (name, runner.py settings): every registered classifier at its defaults, cnn60 widened.
NETS = (('cnn60', {}), ('cnn60 x2', {'net_options': ['width=2']}),
        ('cnn60 x4', {'net_options': ['width=4']}), ('cnn_bn', {}), ('mobile64', {}),
        ('nn_gender', {}), ('nn_gender_88', {}), ('resnet', {}),
        ('vgg13_bn', {'input_size': '48', 'crop_size': '48', 'batch_size': 32}))
SLOW = ('cnn60 x4', 'vgg13_bn', 'resnet')
PRECISIONS = ('fp32', 'bf16')
flags.DEFINE_list('nets', [name for name, _ in NETS], 'Which of the nets to measure.')
flags.DEFINE_string('measure', None, 'Internal: one measurement, printed as JSON.')
flags.DEFINE_string('output', os.path.join(speed.HERE, 'precision'), 'Where .json and .md go.')
FLAGS = flags.FLAGS


def net_config(label, precision, data_dir):
    settings = dict(NETS)[label]
    return speed.platform_config(label.split()[0], data_dir, precision=precision, **settings)


def peak(precision):
    """FLOP/s of a 4096 matmul and of one 3x3 convolution (64 faces of 60x60, 64 -> 128);
    --smoke: a 512 matmul and 8 faces."""
    import tensorflow as tf
    from core import config, model
    v1 = tf.compat.v1
    cfg = config.RunConfig(precision=precision)
    n, faces = (512, 8) if FLAGS.smoke else (4096, 64)
    shapes = {'matmul': (2 * n ** 3, lambda: tf.matmul(tf.random.normal([n, n]),
                                                       tf.random.normal([n, n]))),
              'conv': (2 * faces * 60 * 60 * 128 * 9 * 64, lambda: tf.nn.conv2d(
                  tf.random.normal([faces, 60, 60, 64]), v1.get_variable('w', [3, 3, 64, 128]),
                  1, 'SAME'))}
    out = {}
    for name, (flop, build) in shapes.items():
        graph = tf.Graph()
        with graph.as_default():
            op = tf.reduce_sum(build())
            init = v1.global_variables_initializer()
        with model.session(cfg, graph) as sess:
            sess.run(init)
            sess.run(op)
            times = []
            for _ in range(3 if FLAGS.quick else 8):
                start = time.perf_counter()
                sess.run(op)
                times.append(time.perf_counter() - start)
        out[f'peak_{name}'] = flop / min(times)
    return out


def predict_times(precision, limit=40):
    """Median ms per photo of face detection, and per face of the released model's answer
    (its mirror image too), apart, on the shared portraits, in one warm process."""
    from core import config
    from core.serve import inference
    from data.images import load_rgb
    portraits = os.path.join(speed.SHARED, 'portraits')
    values = {'mode': 'predict', 'image': portraits, 'precision': precision, 'backend': 'tf'}
    cfg = config.resolve(values, set(values))
    net = inference.ImageModel(cfg)
    photos = sorted(os.path.join(portraits, d, n) for d in ('man', 'woman')
                    for n in os.listdir(os.path.join(portraits, d)))[:limit]
    detect, answer = [], []
    for index, path in enumerate([photos[0]] + photos):       # the first twice: warm-up
        rgb = load_rgb(path)
        start = time.perf_counter()
        found = inference.find_faces(rgb, cfg)
        middle = time.perf_counter()
        for _, face in found:
            net.probabilities_of(face)
        if index:
            detect.append(middle - start)
            answer += [(time.perf_counter() - middle) / len(found)] if found else []
    return {'detect_ms': float(np.median(detect) * 1000),
            'answer_ms': float(np.median(answer) * 1000)}


def measure(what, data_dir):
    """One figure set: 'peak@P', 'keras@P' (nn_gender's Keras peer), 'predict@P' or
    'NET@P'."""
    label, precision = what.rsplit('@', 1)
    if label == 'peak':
        return peak(precision)
    if label == 'predict':
        return predict_times(precision, limit=3 if FLAGS.smoke else 40)
    if label == 'keras':
        cfg = net_config('nn_gender', precision, data_dir)
        train, model = speed.keras_training(cfg)
        return {'train': train, 'eval': speed.keras_inference(model, cfg)[0]}
    cfg = net_config(label, precision, data_dir)
    train, pipeline = speed.platform_training(cfg, slow=label in SLOW)
    return {'train': train, 'pipeline': pipeline, 'eval': speed.platform_inference(cfg)[0],
            'precision': cfg.precision}


def run_fresh(what, data_dir, index=0):
    """One figure set in a fresh process (--smoke: all but the first here, as bench.run)."""
    if FLAGS.smoke and index:
        return measure(what, data_dir)
    proc = subprocess.run([sys.executable, '-m', 'bench.precision', f'--measure={what}',
                           f'--data_dir={data_dir}', *speed.size_flags()],
                          cwd=REPO, capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith('RESULT ')]
    if proc.returncode or not lines:
        raise RuntimeError(f'{what} failed:\n{proc.stderr[-2000:]}')
    return json.loads(lines[-1][len('RESULT '):])


def cpu():
    """The CPU's model name and its bfloat16-relevant flags, as the table states them."""
    from core import precision
    name = next((line.split(':', 1)[1].strip() for line in open('/proc/cpuinfo')
                 if line.startswith('model name')), 'unknown')
    wanted = ('avx512f', 'avx512_bf16', 'amx_bf16', 'amx_tile', 'avx512_vnni')
    return {'model': name, 'flags': [f for f in wanted if f in precision.cpu_flags()],
            'auto': precision.decide('auto').name}


def summarise(rounds, names):
    """Medians over rounds, and each ratio as the median of the per-round ratios."""
    med = {what: {key: float(np.median([r[what][key] for r in rounds]))
                  for key in rounds[0][what] if key != 'precision'} for what in rounds[0]}

    def ratio(a, b, key):
        return float(np.median([r[a][key] / r[b][key] for r in rounds]))

    nets = {n: {'fp32': med[f'{n}@fp32'], 'bf16': med[f'{n}@bf16'],
                'train_speedup': ratio(f'{n}@bf16', f'{n}@fp32', 'train'),
                'eval_speedup': ratio(f'{n}@bf16', f'{n}@fp32', 'eval')} for n in names}
    machine = cpu()
    default = machine['auto']
    predict = {p: med[f'predict@{p}'] for p in PRECISIONS}
    predict['answer_speedup'] = ratio('predict@fp32', 'predict@bf16', 'answer_ms')
    return {'cpu': machine, 'rounds': len(rounds), 'nets': nets, 'predict': predict,
            'peak': {p: med[f'peak@{p}'] for p in PRECISIONS}, 'keras': {
                p: med[f'keras@{p}'] for p in PRECISIONS},
            'default_precision': default,
            'train_ratio': ratio(f'nn_gender@{default}', f'keras@{default}', 'train'),
            'infer_ratio': ratio(f'nn_gender@{default}', f'keras@{default}', 'eval'),
            'train_ratio_fp32': ratio('nn_gender@fp32', 'keras@fp32', 'train'),
            'infer_ratio_fp32': ratio('nn_gender@fp32', 'keras@fp32', 'eval'),
            'train_ratio_bf16': ratio('nn_gender@bf16', 'keras@bf16', 'train'),
            'infer_ratio_bf16': ratio('nn_gender@bf16', 'keras@bf16', 'eval')}


def markdown(r):
    c = r['cpu']
    lines = [f'CPU: {c["model"]} ({", ".join(c["flags"]) or "no AVX-512"}); --precision=auto '
             f'takes {c["auto"]}. Medians over {r["rounds"]} round(s), images/s.', '',
             '| net | train fp32 | train bf16 | bf16 / fp32 | eval fp32 | eval bf16 '
             '| bf16 / fp32 | input pipeline |', '|---|' + '---:|' * 7]
    for name, n in r['nets'].items():
        lines.append(f'| {name} | {n["fp32"]["train"]:.0f} | {n["bf16"]["train"]:.0f} '
                     f'| {n["train_speedup"]:.2f}x | {n["fp32"]["eval"]:.0f} '
                     f'| {n["bf16"]["eval"]:.0f} | {n["eval_speedup"]:.2f}x '
                     f'| {n["bf16"]["pipeline"]:.0f} |')
    p, k = r['peak'], r['keras']
    lines += ['', '| figure | fp32 | bf16 |', '|---|---:|---:|',
              f'| peak, 4096 matmul, GFLOP/s | {p["fp32"]["peak_matmul"] / 1e9:.0f} '
              f'| {p["bf16"]["peak_matmul"] / 1e9:.0f} |',
              f'| peak, 3x3 conv 64->128 on 60x60, GFLOP/s | {p["fp32"]["peak_conv"] / 1e9:.0f} '
              f'| {p["bf16"]["peak_conv"] / 1e9:.0f} |',
              f'| Keras nn_gender (float32 / mixed_bfloat16), train | {k["fp32"]["train"]:.0f} '
              f'| {k["bf16"]["train"]:.0f} |',
              f'| Keras nn_gender, eval | {k["fp32"]["eval"]:.0f} | {k["bf16"]["eval"]:.0f} |',
              f'| ours / Keras, nn_gender training | {r["train_ratio_fp32"]:.2f}x '
              f'| {r["train_ratio_bf16"]:.2f}x |',
              f'| ours / Keras, nn_gender eval | {r["infer_ratio_fp32"]:.2f}x '
              f'| {r["infer_ratio_bf16"]:.2f}x |',
              f'| predict, the released model\'s answer per face (mirror averaged), ms '
              f'| {r["predict"]["fp32"]["answer_ms"]:.1f} | {r["predict"]["bf16"]["answer_ms"]:.1f} '
              f'({r["predict"]["answer_speedup"]:.2f}x) |',
              f'| predict, face detection per photo (MTCNN, float32 in both), ms '
              f'| {r["predict"]["fp32"]["detect_ms"]:.0f} | {r["predict"]["bf16"]["detect_ms"]:.0f} |']
    return '\n'.join(lines) + '\n'


def main(argv):
    del argv
    if FLAGS.measure:           # a measurement's child: its parent checked bf16
        print('RESULT ' + json.dumps(measure(FLAGS.measure, speed.dataset_dir())))
        return
    needs_bf16('precision')
    data_dir = speed.dataset_dir()
    # nn_gender always: the Keras peer is its copy.
    names = [name for name, _ in NETS if name in FLAGS.nets or name == 'nn_gender']
    # Ours and the Keras peer side by side in each precision: their ratio is like for like.
    order = [f'{what}@{p}' for what in ['peak', 'predict'] for p in PRECISIONS] + [
        f'{what}@{p}' for p in PRECISIONS for what in ('nn_gender', 'keras')] + [
        f'{what}@{p}' for what in names if what != 'nn_gender' for p in PRECISIONS]
    rounds = []
    for index in range(FLAGS.rounds or (1 if FLAGS.quick else 3)):
        rounds.append({})
        for position, what in enumerate(order):
            rounds[-1][what] = run_fresh(what, data_dir, position)
            print(f'round {index + 1}: {what} {rounds[-1][what]}', flush=True)
    result = summarise(rounds, names)
    with open(FLAGS.output + '.json', 'w') as f:
        json.dump(result, f, indent=1)
    table = markdown(result)
    with open(FLAGS.output + '.md', 'w') as f:
        f.write(table)
    print(table)


if __name__ == '__main__':
    app.run(main)
