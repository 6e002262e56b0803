"""From a folder of ordinary photos to a clean, aligned face dataset with a report.

    python -m data.prepare --src=my_photos --out=records/my_photos
    python -m data.prepare --src=../shared/datasets/utkface --layout=utkface --detect=off \
        --out=records/utkface_gender

Each photo is decoded safely, its faces found (MTCNN), the face judged (one face,
detector confidence, size, roll/yaw/pitch within the flags' limits), aligned
(eyes level, framed like a UTKFace chip) and kept in colour at --face_size.
Exact and near duplicates (a perceptual hash of the aligned face) are dropped
before the split. Then data.convert writes the shards, and report.txt,
report.json, sizes.png, accepted.png and rejected.png say what happened.

Every photo's result is cached under OUT/faces/, so a rerun (or a run after a
kill) redoes only what is missing; dataset.json is written last.
"""
import collections
import csv
import dataclasses
import hashlib
import json
import os
import random
import sys

import numpy as np
from absl import app, flags

import common.quiet  # noqa: F401  (before TensorFlow)
from common import jsonfile
from common.progress import Progress
from common.settings import define_flags as define_settings_flags
from common.settings import pick, section, setting
from data import convert as converter
from data import records, sources
from data.faces import FACE_SIZE
from data.images import BadImage, load_rgb

FLAGS = flags.FLAGS
FACES_DIR = 'faces'


# Face filters. Faces are aligned (rotated to level eyes), so roll costs nothing; the limits
# of 'aligned' keep every face but profiles (docs/measurements.md, "Alignment"). 'strict' is
# the 2017 post's rule for faces that were not aligned.
FILTER_PRESETS = {
    'aligned': dict(min_confidence=0.9, min_face=48, max_roll=180.0, max_yaw=60.0,
                    max_pitch=45.0),
    'strict': dict(min_confidence=0.9, min_face=100, max_roll=5.0, max_yaw=10.0, max_pitch=10.0),
}
# A photo with several faces is about its largest one when that face's short side is at
# least this many times the next one's (measured: docs/measurements.md, "Which face").
SUBJECT_MARGIN = 1.5
# The settings that decide a photo's face crop, and so name its cache.
_CROP_KEYS = ('detect', 'face_size', 'margin', 'min_confidence', 'min_face', 'max_roll',
              'max_yaw', 'max_pitch', 'multi_face')


@dataclasses.dataclass(frozen=True)
class FaceSettings:
    """How faces are found, judged and framed: flags of data.prepare and runner.py. A limit
    left at None comes from the --filters preset."""
    section('Faces: finding, judging and framing them (data/prepare.py)')
    detect: str = setting('on', 'Face detection: on (find, filter, align), off (the images '
                          'are face crops already), check (crops that must hold a face).',
                          choices=['on', 'off', 'check'])
    face_size: int = setting(FACE_SIZE, 'Side of the stored aligned face, px.', lower_bound=8)
    margin: float = setting(0.0, 'Extra border around the face, as a share of the crop on '
                            'every side (0 = framed like a UTKFace chip).',
                            lower_bound=0, below=0.5)
    filters: str = setting('aligned', 'Face filter preset: aligned (roll is corrected by '
                           'alignment; yaw within 60, pitch within 45 degrees, faces of 48 px '
                           'and up) or strict (the 2017 post: roll 5, yaw and pitch 10 degrees, '
                           '100 px). The limit flags below override single values.',
                           choices=sorted(FILTER_PRESETS))
    min_confidence: float = setting(None, 'Lowest detector confidence kept (default: preset).',
                                    lower_bound=0, upper_bound=1)
    min_face: int = setting(None, 'Smallest face kept: short side of its box, px (default: '
                            'preset).', lower_bound=1)
    max_roll: float = setting(None, 'Largest head roll kept, degrees (default: preset).',
                              lower_bound=0, upper_bound=180)
    max_yaw: float = setting(None, 'Largest head yaw kept, degrees (default: preset).',
                             lower_bound=0, upper_bound=90)
    max_pitch: float = setting(None, 'Largest head pitch kept, degrees (default: preset).',
                               lower_bound=0, upper_bound=90)
    multi_face: str = setting('subject', 'Photos with several faces: keep the subject (the '
                              f'largest face, when it is {SUBJECT_MARGIN:g}x the next one\'s '
                              'size or more), keep the largest whatever the others, or skip '
                              'them.', choices=['subject', 'largest', 'skip'])
    near_duplicate_bits: int = setting(4, 'Faces whose perceptual hashes differ in at most '
                                       'this many of 64 bits are near duplicates (-1: keep '
                                       'them all).', lower_bound=-1, upper_bound=64)

    def __post_init__(self):
        for name, value in FILTER_PRESETS[self.filters].items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)

    def key(self):
        crop = {name: getattr(self, name) for name in _CROP_KEYS}
        return hashlib.sha1(json.dumps(crop, sort_keys=True).encode()).hexdigest()[:10]


def by_size(found):
    """(the faces, largest first; the largest's short side over the next one's, or 0 for
    a single face): the subject rule's measure."""
    ranked = sorted(found, key=lambda f: f.box[2] * f.box[3], reverse=True)
    if len(ranked) < 2:
        return ranked, 0.0
    return ranked, ranked[0].short_side / max(ranked[1].short_side, 1.0)


def judge(found, s):
    """(face, reason, values): the face to keep, or None with the reason it is rejected."""
    from data import faces
    if not found:
        return None, 'no face found', {'faces': 0}
    ranked, margin = by_size(found)
    face = ranked[0]
    roll, yaw, pitch = faces.estimate_pose(face)
    values = {'faces': len(found), 'confidence': round(face.confidence, 3),
              'face_px': round(face.short_side), 'roll': round(roll, 1), 'yaw': round(yaw, 1),
              'pitch': round(pitch, 1)}
    if len(found) > 1:              # where the faces were, for report.txt and subjects.png
        values.update(margin=round(margin, 2),
                      boxes=[[round(float(v)) for v in f.box] for f in ranked])
    checks = [
        (len(found) > 1 and s.multi_face == 'skip', f'{len(found)} faces (one per photo wanted)'),
        (len(found) > 1 and s.multi_face == 'subject' and margin < SUBJECT_MARGIN,
         f'{len(found)} faces, none clearly the subject (the largest {margin:.2f}x the next, '
         f'< {SUBJECT_MARGIN:g}x)'),
        (face.confidence < s.min_confidence,
         f'low detector confidence {face.confidence:.3f} < {s.min_confidence}'),
        (face.short_side < s.min_face, f'face too small: {face.short_side:.0f} px < {s.min_face} px'),
        (abs(roll) > s.max_roll, f'roll {roll:.1f} deg beyond +-{s.max_roll}'),
        (abs(yaw) > s.max_yaw, f'yaw {yaw:.1f} deg beyond +-{s.max_yaw}'),
        (abs(pitch) > s.max_pitch, f'pitch {pitch:.1f} deg beyond +-{s.max_pitch}'),
    ]
    for failed, reason in checks:
        if failed:
            return None, reason, values
    return face, '', values


def search_size(settings):
    """The face size the detector looks for. Crops to check are looked at in full; photos
    for faces down to half the smallest kept (a face under the limit is reported as too
    small rather than not found), but at no finer scale than predict looks
    (faces.SMALLEST_FACE): MTCNN's answer depends on the scale, and preparation should see
    the faces predict will see."""
    from data import faces
    if settings.detect == 'check':
        return faces.DETECTABLE_FACE
    return max(faces.DETECTABLE_FACE, settings.min_face // 2,
               min(settings.min_face, faces.SMALLEST_FACE))


def face_crop(rgb, settings):
    """(crop, reason, values) for one decoded photo under `settings`."""
    import cv2
    from data import faces
    size = settings.face_size
    whole = lambda: cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)  # noqa: E731
    if settings.detect == 'off':
        return whole(), '', {}
    detector = faces.fast_detector()
    found = faces.find(rgb, search_size(settings), detector)
    if settings.detect == 'check':
        if not found:
            return None, 'no face found', {'faces': 0}
        return whole(), '', {'faces': len(found), 'confidence': round(found[0].confidence, 3)}
    face, reason, values = judge(found, settings)
    if face is None:
        return None, reason, values
    return faces.aligned(rgb, face, settings.face_size, settings.margin, detector), '', values


def process_photo(job):
    """Worker: one photo to a cached aligned face (PNG) and a JSON result; reuses the cache."""
    path, digest, cache_dir, settings = job
    if digest is None:                       # empty files: find_duplicates leaves them unhashed
        with open(path, 'rb') as f:
            digest = hashlib.sha1(f.read()).hexdigest()
    base = os.path.join(cache_dir, digest)
    if os.path.isfile(base + '.json'):
        return dict(jsonfile.read(base + '.json'), cached=True)
    from PIL import Image
    import imagehash
    result = {'status': 'rejected', 'reason': '', 'values': {}, 'crop': None, 'hash': None,
              'width': None, 'height': None}
    try:
        rgb = load_rgb(path)
        result['height'], result['width'] = rgb.shape[:2]
        crop, reason, values = face_crop(rgb, settings)
        result.update(reason=reason, values=values)
        if crop is not None:
            image = Image.fromarray(crop)
            image.save(base + '.png.tmp', format='PNG')
            os.replace(base + '.png.tmp', base + '.png')
            result.update(status='accepted', crop=os.path.basename(base) + '.png',
                          hash=str(imagehash.phash(image)))
    except BadImage as e:
        result['reason'] = str(e)
    records.write_json_atomic(base + '.json', result)
    return result


def near_duplicates(hashes, max_bits):
    """Pairs (i, j, bits) with i < j whose 64-bit perceptual hashes differ in <= max_bits bits."""
    if not hashes:
        return []
    values = np.array([int(h, 16) for h in hashes], dtype=np.uint64)
    pairs = []
    for start in range(0, len(values), 512):
        block = values[start:start + 512]
        bits = np.bitwise_count(block[:, None] ^ values[None, :])
        for a, b in zip(*np.nonzero(bits <= max_bits)):
            i, j = start + int(a), int(b)
            if i < j:
                pairs.append((i, j, int(bits[a, b])))
    return pairs


def drop_near_duplicates(accepted, max_bits):
    """Keeps the first face (by name) of every group of near-identical faces."""
    accepted = sorted(accepted, key=lambda pair: pair[0].rel)
    pairs = near_duplicates([r['hash'] for _, r in accepted], max_bits)
    dropped, named = set(), []
    for i, j, bits in pairs:
        if i not in dropped and j not in dropped:
            dropped.add(j)
            named.append({'kept': accepted[i][0].rel, 'dropped': accepted[j][0].rel, 'bits': bits})
    return [a for k, a in enumerate(accepted) if k not in dropped], named


def source_record(src, items, settings, label_names=None):
    """What a preparation was made from: the source's path and a fingerprint of its photos
    (names, labels, sizes, times) and of the settings. A cache whose record differs is of
    other photos, or of the same ones changed."""
    digest = hashlib.sha1(json.dumps([settings.key(), label_names]).encode())
    for it in sorted(items, key=lambda it: it.rel):
        stat = os.stat(it.path)
        digest.update(f'{it.rel}\0{it.label_name}\0{stat.st_size}\0{stat.st_mtime_ns}\n'
                      .encode('utf-8', 'backslashreplace'))
    return {'src': os.path.abspath(src), 'fingerprint': digest.hexdigest()}


def prepare(src, out, settings=FaceSettings(), layout='folders', label='gender',
            age_buckets=sources.AGE_BUCKETS, eval_fraction=0.1, seed=0, shard_size=1000,
            workers=2, limit=0, label_names=None):
    """Runs the whole preparation; returns the report (also in OUT/report.json)."""
    items, classes, unlabelled = sources.list_items(src, layout, label, age_buckets)
    for path, reason in unlabelled[:15]:
        print(f'  skip {path}: {reason}')
    if len(unlabelled) > 15:
        print(f'  ... and {len(unlabelled) - 15} more not used (report.txt)')
    if not items:
        raise ValueError(f'{src}: none of its {len(unlabelled)} photos can be used'
                         + (f' ({unlabelled[0][0]}: {unlabelled[0][1]}, ...)' if unlabelled
                            else ''))
    if limit:
        items = sorted(random.Random(seed).sample(items, min(limit, len(items))),
                       key=lambda it: it.rel)
    print(f'{len(items)} photos in {len(classes)} classes ({", ".join(classes)}) under {src}')
    prepared_from = source_record(src, items, settings, label_names)
    items, exact = converter.find_duplicates(items)
    cache_dir = os.path.join(out, FACES_DIR, settings.key())
    results = _faces_of(items, cache_dir, settings, workers)

    accepted = [(it, r) for it, r in results if r['status'] == 'accepted']
    kept, near = drop_near_duplicates(accepted, settings.near_duplicate_bits)
    for pair in near[:20]:
        print(f'  skip {pair["dropped"]}: near duplicate of {pair["kept"]} ({pair["bits"]} bits)')
    index = os.path.join(out, FACES_DIR, f'{settings.key()}.csv')
    attributes = sorted({k for it, _ in kept for k in it.attributes})
    with open(index + '.tmp', 'w', newline='', encoding='utf-8') as f:
        writer = csv.writer(f)
        writer.writerow(['path', 'label', 'split', 'source', *attributes])
        for it, r in kept:
            writer.writerow([os.path.join(settings.key(), r['crop']), it.label_name, it.split or '',
                             it.rel, *(it.attributes.get(a, '') for a in attributes)])
    os.replace(index + '.tmp', index)
    face_items, _, _ = sources.csv_file(index)
    # Keep the source's class order (and classes that lost every photo) in the dataset.
    meta = converter.convert(index, out, layout='csv', eval_fraction=eval_fraction, seed=seed,
                             shard_size=shard_size, workers=1, label_names=label_names,
                             listing=(face_items, classes, []),
                             extra_meta={'faces': dataclasses.asdict(settings),
                                         'prepared_from': prepared_from})

    report = build_report(src, settings, results, unlabelled, exact, near, meta)
    records.write_json_atomic(os.path.join(out, 'report.json'), report)
    with open(os.path.join(out, 'report.txt'), 'w') as f:
        f.write(report_text(report))
    from data import report_pictures
    report_pictures.size_histogram(results, os.path.join(out, 'sizes.png'))
    report_pictures.accepted_sheet(kept, cache_dir, classes, os.path.join(out, 'accepted.png'), seed)
    report_pictures.rejected_sheet(results, os.path.join(out, 'rejected.png'), seed)
    report_pictures.subjects_sheet(results, os.path.join(out, 'subjects.png'), seed)
    print(report_text(report, max_rows=15))
    print(f'report: {os.path.join(out, "report.txt")} (+ report.json, sizes.png, accepted.png, '
          'rejected.png, subjects.png)')
    return report


def _faces_of(items, cache_dir, settings, workers):
    """[(item, result of process_photo)], with progress; faces found before (the cache of
    an interrupted or earlier run) are reused."""
    os.makedirs(cache_dir, exist_ok=True)
    if settings.detect != 'off':
        from data import mtcnn_convert
        try:       # once, here: the workers would each convert it, silently, inside a photo
            mtcnn_convert.cached_stages(announce=True)
        except OSError:
            pass                    # an unwritable cache: faces.fast_detector falls back
    progress = Progress(len(items), 'photos')
    results = []
    jobs = [(it.path, it.digest, cache_dir, settings) for it in items]
    with converter.worker_pool(workers) as pool:
        for item, result in zip(items, pool.imap(process_photo, jobs, chunksize=4)):
            results.append((item, result))
            progress.update(1)
            if result['status'] == 'rejected' and not result.get('cached'):
                print(f'  reject {item.rel}: {result["reason"]}', flush=True)
    progress.done()
    reused = sum(r.get('cached', False) for _, r in results)
    if reused:
        print(f'{reused} of {len(results)} photos reused from the cache in {cache_dir}')
    return results


def build_report(src, settings, results, unlabelled, exact, near, meta):
    rejected = [{'file': it.rel, 'reason': r['reason'], 'values': r['values']}
                for it, r in results if r['status'] == 'rejected']
    by_reason = collections.Counter(_reason_kind(r['reason']) for r in rejected)
    counts = {split: entry['per_class'] for split, entry in meta['splits'].items()}
    totals = collections.Counter()
    for per_class in counts.values():
        totals.update(per_class)
    total = sum(totals.values())
    return {
        'src': os.path.abspath(src), 'settings': dataclasses.asdict(settings),
        'photos': len(results) + len(exact) + len(unlabelled),
        'accepted': sum(r['status'] == 'accepted' for _, r in results),
        'reused': sum(r.get('cached', False) for _, r in results),
        'subjects': [{'file': it.rel, 'faces': r['values']['faces'],
                      'margin': r['values']['margin'], 'box': r['values']['boxes'][0]}
                     for it, r in results if r['status'] == 'accepted'
                     and 'boxes' in r['values']],     # (caches made before boxes were kept)
        'rejected': rejected, 'rejected_by_reason': dict(by_reason.most_common()),
        'unlabelled': [{'file': p, 'reason': r} for p, r in unlabelled],
        'exact_duplicates': [{'kept': k, 'dropped': d} for k, d in exact],
        'near_duplicates': near,
        'classes': meta['classes'], 'counts': counts,
        'class_balance': {c: round(totals[c] / total, 4) if total else 0 for c in meta['classes']},
        'final_images': total,
    }


def _reason_kind(reason):
    """The reason without its measurements: 'roll 7.1 deg beyond +-5.0' -> 'roll',
    'low detector confidence 0.83 < 0.9' -> 'low detector confidence',
    'too small: 1x1 ...' -> 'too small', '2 faces (...)' -> 'several faces'."""
    head = reason.split(':')[0].split('(')[0].strip()
    words = head.split()
    if words and words[0].isdigit():
        return 'several faces'
    kind = []
    for word in words:
        try:
            float(word)
            break
        except ValueError:
            kind.append(word)
    return ' '.join(kind)


def report_text(report, max_rows=None):
    lines = [f'Prepared from {report["src"]}',
             f'photos: {report["photos"]}; not used (label or path): '
             f'{len(report["unlabelled"])}; faces accepted: {report["accepted"]}; '
             f'rejected: {len(report["rejected"])}; exact duplicates: '
             f'{len(report["exact_duplicates"])}; near duplicates: '
             f'{len(report["near_duplicates"])}; in the dataset: {report["final_images"]}']
    for split, per_class in report['counts'].items():
        lines.append(f'{split}: ' + ', '.join(f'{c} {n}' for c, n in per_class.items()))
    lines.append('class balance: ' + ', '.join(f'{c} {v * 100:.1f}%'
                                                for c, v in report['class_balance'].items()))
    if report.get('subjects'):
        lines.append(f'photos with several faces kept by their largest face: '
                     f'{len(report["subjects"])} (subjects.png shows each choice)')
    lines.append('rejected by reason:')
    lines += [f'  {n:6d}  {kind}' for kind, n in report['rejected_by_reason'].items()]
    rows = report['rejected'] if max_rows is None else report['rejected'][:max_rows]
    for r in rows:
        values = ' '.join(f'{k}={v}' for k, v in r['values'].items() if k != 'boxes')
        lines.append(f'  rejected {r["file"]}: {r["reason"]}' + (f' [{values}]' if values else ''))
    if max_rows is not None and len(report['rejected']) > max_rows:
        lines.append(f'  ... and {len(report["rejected"]) - max_rows} more (report.txt)')
    if max_rows is None:
        lines += [f'  kept {k["file"]}: the largest of {k["faces"]} faces, {k["margin"]:.2f}x '
                  'the next' for k in report.get('subjects', [])]
        lines += [f'  unlabelled {u["file"]}: {u["reason"]}' for u in report['unlabelled']]
        lines += [f'  exact duplicate {d["dropped"]} of {d["kept"]}'
                  for d in report['exact_duplicates']]
        lines += [f'  near duplicate {d["dropped"]} of {d["kept"]} ({d["bits"]} bits)'
                  for d in report['near_duplicates']]
    return '\n'.join(lines) + '\n'


def define_flags():
    """The face flags, shared by `python -m data.prepare` and runner.py."""
    return define_settings_flags(FaceSettings)


def settings_from(values):
    """FaceSettings from a dict of flag values (names that are not face settings ignored)."""
    return FaceSettings(**pick(FaceSettings, values))


def main(argv):
    del argv
    if not FLAGS.src or not FLAGS.out:
        sys.exit('usage: python -m data.prepare --src=PHOTO_FOLDERS --out=RECORDS_DIR')
    try:
        settings = settings_from({name: FLAGS[name].value for name in FLAGS})
        prepare(FLAGS.src, FLAGS.out, settings, FLAGS.layout, FLAGS.utkface_label,
                [int(a) for a in FLAGS.age_buckets], FLAGS.eval_fraction, FLAGS.seed,
                FLAGS.shard_size, FLAGS.workers, FLAGS.limit, FLAGS.label_names)
    except (ValueError, OSError) as e:      # OSError: a full disk, a read-only folder
        sys.exit(f'error: {e}')
    except KeyboardInterrupt:
        sys.exit('interrupted: rerun the same command to continue where it stopped')


if __name__ == '__main__':
    converter.define_flags()
    define_flags()
    app.run(main)
