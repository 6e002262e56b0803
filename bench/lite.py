"""Answers without TensorFlow against answers through it, in one run: the wall time of a
fresh `runner.py --mode=predict` on one photo and on a folder, a refused flag's, and how
often the two paths find the same faces and give the same class.

    python -m bench.lite --photos=../shared/datasets/portraits
    python -m bench.lite --photos=/work/data/fairface/val --limit=5000 --output=bench/lite.json

Both paths answer with the default released model (its lite/ files, and --backend=tf).
Wall times include Python's start and every import, as a user waits for them.
"""
import csv
import os
import shutil
import statistics
import tempfile
import time

from absl import app, flags

from bench.harness import REPO, report, runner

flags.DEFINE_string('photos', os.path.join(os.path.dirname(REPO), 'shared', 'datasets',
                                           'portraits'), 'A folder of photos (any depth).')
flags.DEFINE_integer('limit', 0, 'Use the first N photos only (0: all).')
flags.DEFINE_integer('repeats', 3, 'Fresh processes per one-photo timing (the median).')
flags.DEFINE_string('output', None, 'Also write the figures here as JSON.')
FLAGS = flags.FLAGS
BACKENDS = ('lite', 'tf')


def timed(*args):
    start = time.perf_counter()
    runner(*args, quiet=True)
    return time.perf_counter() - start


def refused_seconds():
    """A refused flag: the command's one line, from a fresh process."""
    from bench.harness import Failed
    start = time.perf_counter()
    try:
        runner('--mode=predict', '--image=README.md', '--port=0', quiet=True)
    except Failed:
        pass
    return time.perf_counter() - start


def chosen_photos(folder, limit, into):
    """The first `limit` photos below `folder` linked into `into` (one flat folder)."""
    from data.sources import files_below
    photos = files_below(folder)[:limit or None]
    for i, path in enumerate(photos):
        os.symlink(os.path.abspath(path), os.path.join(into, f'{i:05d}_{os.path.basename(path)}'))
    return len(photos)


def answers_of(csv_path):
    """{(file, face): row} of a predict CSV."""
    with open(csv_path, newline='', encoding='utf-8') as f:
        return {(r['file'], r['face']): r for r in csv.DictReader(f)}


def agreement(lite, tf):
    """Photos with the same faces found (boxes to the pixel), faces with the same class,
    the mean and largest probability difference."""
    def boxes(rows):
        """{photo: its boxes, sorted}"""
        found = {}
        for (photo, _), row in rows.items():
            found.setdefault(photo, []).append(row['box_x_y_w_h'])
        return {photo: sorted(b) for photo, b in found.items()}

    lite_boxes, tf_boxes = boxes(lite), boxes(tf)
    photos = set(tf_boxes)
    same_faces = sum(lite_boxes.get(p) == tf_boxes[p] for p in photos)
    both = [k for k in tf if k in lite and tf[k]['class'] and
            lite[k]['box_x_y_w_h'] == tf[k]['box_x_y_w_h']]
    same_class = sum(lite[k]['class'] == tf[k]['class'] for k in both)
    diffs = [abs(float(lite[k]['probability']) - float(tf[k]['probability']))
             if lite[k]['class'] == tf[k]['class'] else
             abs(1 - float(lite[k]['probability']) - float(tf[k]['probability'])) for k in both]
    return {'photos': len(photos), 'same_faces': same_faces, 'faces_compared': len(both),
            'same_class': same_class, 'mean_p_difference': statistics.mean(diffs) if diffs else 0,
            'max_p_difference': max(diffs, default=0)}


def main(argv):
    del argv
    results = {'machine': os.uname().machine}
    work = tempfile.mkdtemp(prefix='bench_lite_')
    try:
        folder = os.path.join(work, 'photos')
        os.makedirs(folder)
        count = chosen_photos(FLAGS.photos, FLAGS.limit, folder)
        one = os.path.join(folder, sorted(os.listdir(folder))[0])
        for backend in BACKENDS:     # interleaved: the machine's load falls on both alike
            results[f'{backend}_one_photo_s'] = statistics.median(
                timed('--mode=predict', f'--image={one}', f'--backend={backend}')
                for _ in range(FLAGS.repeats))
        results['refused_flag_s'] = refused_seconds()
        rows = {}
        for backend in BACKENDS:
            out = os.path.join(work, f'{backend}.csv')
            seconds = timed('--mode=predict', f'--image={folder}', f'--output={out}',
                            f'--backend={backend}')
            results[f'{backend}_folder_ms_per_photo'] = seconds / count * 1000
            rows[backend] = answers_of(out)
        results.update(agreement(rows['lite'], rows['tf']))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(results, FLAGS.output)


if __name__ == '__main__':
    app.run(main)
