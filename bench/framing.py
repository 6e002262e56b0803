"""Does predict see faces the way the model was trained on them? The same held-out faces
judged two ways, through runner.py: from the dataset's stored faces (what eval measures),
and end to end from the original image files (predict: detect, align, classify).

    python bench/framing.py --train_dir=checkpoints/base_cnn60 --src=../shared/datasets/utkface

A model trained on faces framed by our own detection and alignment should score the
same both ways; one trained on the chips taken whole loses where the framings differ.
A file whose face predict does not find counts as wrong.
"""
import csv
import json
import os
import random
import subprocess
import sys
import tempfile

from absl import app, flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
flags.DEFINE_string('train_dir', 'checkpoints/base_cnn60', 'The trained model.')
flags.DEFINE_string('src', os.path.join(os.path.dirname(REPO), 'shared', 'datasets', 'utkface'),
                    'Where the original image files of the dataset are.')
flags.DEFINE_integer('limit', 500, 'Held-out faces judged (a seeded sample; 0 = all).')
flags.DEFINE_string('output', 'bench/framing.json', 'Where the figures go.')
FLAGS = flags.FLAGS


def held_out(data_dir):
    """[(source file name, class name)] of the eval split, from its TFRecords."""
    import common.quiet  # noqa: F401
    import tensorflow as tf
    from data import records
    meta = records.read_meta(data_dir)
    files = records.shard_files(data_dir, meta, 'eval')
    out = []
    for serialized in tf.data.TFRecordDataset(files):
        example = records.parse(serialized)
        out.append((example['image/filename'].numpy().decode(),
                    meta['classes'][int(example['image/class/label'])]))
    return out


def predict(train_dir, folder, extra, out_csv):
    """{file name: class of its largest face, or None}."""
    proc = subprocess.run([sys.executable, os.path.join(REPO, 'runner.py'), '--mode=predict',
                           f'--train_dir={train_dir}', f'--image={folder}', f'--output={out_csv}',
                           *extra], cwd=REPO, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(proc.stderr)
    answers = {}
    for row in csv.DictReader(open(out_csv)):
        name = os.path.basename(row['file'])
        area = -1.0
        if row['class']:
            _, _, w, h = (float(v) for v in row['box_x_y_w_h'].split(','))
            area = w * h
        if area > answers.get(name, (None, -1.0))[1]:
            answers[name] = (row['class'] or None, area)
    return {k: v[0] for k, v in answers.items()}


def main(argv):
    del argv
    run = json.load(open(os.path.join(FLAGS.train_dir, 'run.json')))
    data_dir = run['data_dir']
    faces = held_out(data_dir)
    if FLAGS.limit:
        faces = sorted(random.Random(0).sample(faces, min(FLAGS.limit, len(faces))))
    # The stored faces: where preparation put each source's aligned face.
    index = {}
    for name in os.listdir(os.path.join(data_dir, 'faces')):
        if name.endswith('.csv'):
            for row in csv.DictReader(open(os.path.join(data_dir, 'faces', name))):
                index[row['source']] = os.path.join(data_dir, 'faces', row['path'])
    stored = all(source in index for source, _ in faces)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ('stored', 'original') if stored else ('original',):
            folder = os.path.join(tmp, kind)
            os.makedirs(folder)
            for source, _ in faces:
                target = index[source] if kind == 'stored' else os.path.join(FLAGS.src, source)
                os.symlink(os.path.abspath(target), os.path.join(folder, source))
            extra = ['--detect=off'] if kind == 'stored' else []
            answers = predict(FLAGS.train_dir, folder, extra, os.path.join(tmp, f'{kind}.csv'))
            right = sum(answers.get(source) == label for source, label in faces)
            missed = sum(answers.get(source) is None for source, _ in faces)
            results[kind] = {'accuracy': right / len(faces), 'no_face': missed}
            print(f'{kind:8s} {len(faces)} held-out faces: {right / len(faces) * 100:.2f}% '
                  f'(no face found: {missed})', flush=True)
    results.update(train_dir=FLAGS.train_dir, data_dir=data_dir, count=len(faces))
    with open(FLAGS.output, 'w') as f:
        json.dump(results, f, indent=1)
    print(f'written to {FLAGS.output}')


if __name__ == '__main__':
    app.run(main)
