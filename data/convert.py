"""Label folders (or UTKFace file names) to sharded TFRecords with train/eval splits.

    python -m data.convert --src=photos --out=records/photos
    python -m data.convert --src=../shared/datasets/utkface --layout=utkface --out=records/utkface

`photos/` holds one folder per class (`0/`, `1/`, ... or `female/`, `male/`),
or `train/<class>/` and `eval/<class>/` when the split is already made.
Unusable files are skipped with a one-line reason each, exact byte duplicates
are kept once (so no face sits in both splits), and everything skipped is
listed in `report.txt` and `dataset.json`. Shards are written to a temporary
name and renamed when complete, and `dataset.json` comes last, so a killed run
never leaves a dataset that looks finished; rerunning skips finished shards.
"""
import collections
import hashlib
import json
import multiprocessing
import os
import random
import sys

from absl import app, flags

import common.quiet  # noqa: F401  (before TensorFlow)

from common import jsonfile
from common.progress import Progress
from common.settings import define_flags as define_settings_flags
from data import sources
from data.images import reencode

PLAN_FILE = 'plan.json'


def find_duplicates(items):
    """Keeps the first file of every group of byte-identical files; returns (kept, pairs)."""
    first_by_digest, kept, pairs = {}, [], []
    for item in items:
        with open(item.path, 'rb') as f:
            data = f.read()
        if not data:           # empty files are rejected later with their own reason
            kept.append(item)
            continue
        digest = item.digest = hashlib.sha1(data).hexdigest()
        if digest in first_by_digest:
            pairs.append((first_by_digest[digest].rel, item.rel))
        else:
            first_by_digest[digest] = item
            kept.append(item)
    return kept, pairs


def split_items(items, eval_fraction, seed):
    """Stratified, seeded split; items that come pre-split keep their split."""
    by_class = collections.defaultdict(list)
    for item in items:
        if item.split is None:
            by_class[item.label_name].append(item)
    rng = random.Random(seed)
    for label in sorted(by_class):
        group = by_class[label]
        rng.shuffle(group)
        n_eval = round(len(group) * eval_fraction)
        for i, item in enumerate(group):
            item.split = 'eval' if i < n_eval else 'train'
    return items


def plan_shards(items, shard_size, seed):
    """{shard file name: [items]}; each split shuffled so shards mix classes."""
    rng = random.Random(seed + 1)
    plan = {}
    for split in ('train', 'eval'):
        group = [it for it in items if it.split == split]
        rng.shuffle(group)
        n = max(1, -(-len(group) // shard_size)) if group else 0
        for i in range(n):
            plan[f'{split}-{i:05d}-of-{n:05d}.tfrecord'] = group[i * shard_size:(i + 1) * shard_size]
    return plan


def _plan_fingerprint(plan, settings):
    desc = {name: [(it.rel, os.path.getsize(it.path), it.label_name) for it in group]
            for name, group in plan.items()}
    text = json.dumps([desc, settings], sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()


def _reencode_job(args):
    path, max_side = args
    return reencode(path, max_side)


def write_shard(out, name, group, class_ids, results, progress):
    """Writes one shard atomically plus its sidecar summary; returns the summary."""
    from data import tfrecord
    from data.records import make_example, write_json_atomic
    path = os.path.join(out, name)
    counts, skipped, sizes = collections.Counter(), [], collections.Counter()
    with tfrecord.Writer(f'{path}.tmp') as writer:
        for item, result in zip(group, results):
            progress.update(1)
            if isinstance(result, str):
                skipped.append((item.rel, result))
                print(f'  skip {item.rel}: {result}', flush=True)
                continue
            encoded, height, width = result
            example = make_example(encoded, class_ids[item.label_name], item.label_name,
                                   height, width, item.rel, item.attributes)
            writer.write(example)
            counts[item.label_name] += 1
            sizes[f'{height}x{width}'] += 1
    os.replace(f'{path}.tmp', path)
    summary = {'count': sum(counts.values()), 'per_class': dict(counts), 'skipped': skipped,
               'sizes': dict(sizes)}
    write_json_atomic(f'{path}.json', summary)
    return summary


def _clear_stale(out, keep_plan):
    """Removes temporary files of a killed run, and all shards if the plan changed."""
    for name in os.listdir(out):
        stale = name.endswith('.tmp') or (not keep_plan and '.tfrecord' in name)
        if stale:
            os.remove(os.path.join(out, name))


def convert(src, out, layout='folders', eval_fraction=0.1, seed=0, shard_size=1000,
            max_side=512, workers=2, label_names=None, limit=0, listing=None, extra_meta=None):
    """Runs the whole conversion; returns the dataset description (also in dataset.json).

    `listing` is (items, classes, unlabelled) when the caller has listed the source;
    `extra_meta` is added to dataset.json.
    """
    from data.records import META_FILE, write_json_atomic
    items, classes, unlabelled = listing or sources.list_items(src, layout)
    _print_capped([f'  skip {_rel(path, src)}: {reason}' for path, reason in unlabelled])
    if limit:
        items = random.Random(seed).sample(items, min(limit, len(items)))
        items.sort(key=lambda it: it.rel)
    if label_names:
        if len(label_names) != len(classes):
            raise ValueError(f'--label_names has {len(label_names)} names for {len(classes)} '
                             f'classes ({", ".join(classes)})')
        rename = dict(zip(classes, label_names))
        for item in items:
            item.label_name = rename[item.label_name]
        classes = list(label_names)
    class_ids = {name: i for i, name in enumerate(classes)}
    print(f'{len(items)} files in {len(classes)} classes ({", ".join(classes)}) under {src}')

    items, duplicates = find_duplicates(items)
    _print_capped([f'  skip {dropped}: exact duplicate of {kept}' for kept, dropped in duplicates])
    plan = plan_shards(split_items(items, eval_fraction, seed), shard_size, seed)

    os.makedirs(out, exist_ok=True)
    settings = dict(src=os.path.abspath(src), layout=layout, eval_fraction=eval_fraction,
                    seed=seed, shard_size=shard_size, max_side=max_side, classes=classes)
    _start_plan(out, plan, settings)
    summaries = _write_shards(out, plan, class_ids, max_side, workers)
    meta = _describe(plan, summaries, classes, unlabelled, duplicates, src, settings)
    meta.update(extra_meta or {})
    with open(os.path.join(out, 'labels.txt'), 'w') as f:
        f.writelines(f'{i}:{name}\n' for i, name in enumerate(classes))
    with open(os.path.join(out, 'report.txt'), 'w') as f:
        f.write(report_text(meta))
    write_json_atomic(os.path.join(out, META_FILE), meta)
    if listing is None:         # a caller that listed the source reports on the whole of it
        print(report_text(meta, max_rows=20))
    return meta


def _start_plan(out, plan, settings):
    """Records the plan in OUT; a conversion of other sources or settings there is cleared
    (its shards would mix with ours), one of the same plan is kept to resume."""
    from data.records import META_FILE, write_json_atomic
    fingerprint = _plan_fingerprint(plan, settings)
    plan_path = os.path.join(out, PLAN_FILE)
    same_plan = (os.path.isfile(plan_path)
                 and jsonfile.read(plan_path).get('fingerprint') == fingerprint)
    if os.path.isfile(plan_path) and not same_plan:
        print(f'{out} holds a conversion with other sources or settings: rebuilding it')
        meta_path = os.path.join(out, META_FILE)
        if os.path.exists(meta_path):
            os.remove(meta_path)
    _clear_stale(out, keep_plan=same_plan)
    write_json_atomic(plan_path, {'fingerprint': fingerprint, 'settings': settings})


def _write_shards(out, plan, class_ids, max_side, workers):
    """{shard name: its summary}, writing the shards a previous run did not finish."""
    summaries, todo = {}, []
    for name in plan:
        done = os.path.join(out, f'{name}.json')
        summary = jsonfile.read(done) if os.path.isfile(done) else {}
        # A summary without 'sizes' comes from an older version: write that shard again.
        if os.path.isfile(os.path.join(out, name)) and 'sizes' in summary:
            summaries[name] = summary
        else:
            todo.append(name)
    if summaries:
        print(f'{len(summaries)} of {len(plan)} shards already written: reusing them')
    if todo:                     # a progress line of 0/0 says nothing
        progress = Progress(sum(len(plan[n]) for n in todo), 'images')
        with worker_pool(workers) as pool:
            for name in todo:
                jobs = [(it.path, max_side) for it in plan[name]]
                results = pool.imap(_reencode_job, jobs, chunksize=16)
                summaries[name] = write_shard(out, name, plan[name], class_ids, results, progress)
        progress.done()
    return summaries


def _print_capped(lines, cap=20):
    for line in lines[:cap]:
        print(line)
    if len(lines) > cap:
        print(f'  ... and {len(lines) - cap} more like these (all are listed in report.txt)')


def worker_pool(workers):
    """A pool of `workers` fresh ('spawn') processes, or this process alone for 1. The
    workers end with their parent, even when it is killed (kill -9) and cannot stop them."""
    if workers <= 1:
        return _InProcess()
    return multiprocessing.get_context('spawn').Pool(workers, initializer=_end_with_parent,
                                                     initargs=(os.getpid(),))


def _end_with_parent(parent_pid):
    """Linux: ask the kernel for SIGTERM when the parent dies (prctl PR_SET_PDEATHSIG)."""
    import ctypes
    import signal
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)          # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return                                 # not Linux: the pool's own cleanup only
    if os.getppid() != parent_pid:             # the parent died before the call
        os._exit(1)


class _InProcess:
    """A stand-in for a Pool when --workers=1: same imap, no processes."""
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def imap(self, fn, jobs, chunksize=1):
        return map(fn, jobs)


def _rel(path, src):
    root = src if os.path.isdir(src) else os.path.dirname(src)
    return os.path.relpath(path, root)


def _describe(plan, summaries, classes, unlabelled, duplicates, src, settings):
    splits = {}
    for name in sorted(plan):
        split = name.split('-')[0]
        entry = splits.setdefault(split, {'count': 0, 'per_class': {c: 0 for c in classes},
                                          'shards': []})
        entry['count'] += summaries[name]['count']
        for cls, n in summaries[name]['per_class'].items():
            entry['per_class'][cls] += n
        entry['shards'].append(name)
    attributes = sorted({k for group in plan.values() for it in group for k in it.attributes})
    sizes = collections.Counter()
    for summary in summaries.values():
        sizes.update(summary.get('sizes', {}))
    typical = [int(v) for v in sizes.most_common(1)[0][0].split('x')] if sizes else None
    skipped = [(_rel(p, src), r) for p, r in unlabelled]
    skipped += [(rel, reason) for name in sorted(plan) for rel, reason in summaries[name]['skipped']]
    return {'classes': classes, 'num_classes': len(classes), 'splits': splits,
            'attributes': attributes, 'skipped': skipped, 'typical_size': typical,
            'duplicates': [{'kept': k, 'dropped': d} for k, d in duplicates],
            'settings': settings}


def report_text(meta, max_rows=None):
    lines = [f'Dataset from {meta["settings"]["src"]}',
             f'classes: {", ".join(meta["classes"])}']
    for split, entry in meta['splits'].items():
        per = ', '.join(f'{c} {n}' for c, n in entry['per_class'].items())
        lines.append(f'{split}: {entry["count"]} images ({per}) in {len(entry["shards"])} shards')
    lines.append(f'skipped: {len(meta["skipped"])} files; exact duplicates dropped: '
                 f'{len(meta["duplicates"])}')
    reasons = collections.Counter(r.split(':')[0].split('(')[0].strip() for _, r in meta['skipped'])
    lines += [f'  {n:6d}  {reason}' for reason, n in reasons.most_common()]
    rows = meta['skipped'] if max_rows is None else meta['skipped'][:max_rows]
    lines += [f'  skipped {rel}: {reason}' for rel, reason in rows]
    if max_rows is not None and len(meta['skipped']) > max_rows:
        lines.append(f'  ... and {len(meta["skipped"]) - max_rows} more (see report.txt)')
    if max_rows is None:
        lines += [f'  duplicate {d["dropped"]} of {d["kept"]}' for d in meta['duplicates']]
    return '\n'.join(lines) + '\n'


FLAGS = flags.FLAGS


def define_flags():
    """The command line of `python -m data.convert` (and, with more, of data.prepare)."""
    flags.DEFINE_string('src', None, 'Folder of label folders, UTKFace chips (--layout=utkface) '
                        'or a CSV of path,label (--layout=csv).')
    flags.DEFINE_string('out', None, 'Output folder for the TFRecord shards and reports.')
    define_settings_flags(sources.SourceSettings)
    flags.DEFINE_list('age_buckets', sources.AGE_BUCKETS, 'UTKFace age_gender: lower bounds of '
                      'the age buckets; younger faces are left out.')
    flags.DEFINE_float('eval_fraction', 0.1, 'Share of each class held out for eval '
                       '(unless pre-split).')
    flags.DEFINE_integer('seed', 0, 'Seed of the split and the shard order.')
    flags.DEFINE_integer('shard_size', 1000, 'Images per shard.')
    flags.DEFINE_integer('max_side', 512, 'Larger images are shrunk to this longer side.')
    flags.DEFINE_integer('workers', 2, 'Decoding processes.')
    flags.DEFINE_integer('limit', 0, 'Use a seeded random subset of this many files (0 = all).')


def list_source():
    """(items, classes, unlabelled) for the --src/--layout/--label flags."""
    return sources.list_items(FLAGS.src, FLAGS.layout, FLAGS.utkface_label,
                              [int(a) for a in FLAGS.age_buckets])


def main(argv):
    del argv
    if not FLAGS.src or not FLAGS.out:
        sys.exit('usage: python -m data.convert --src=PHOTO_FOLDERS --out=RECORDS_DIR')
    try:
        convert(FLAGS.src, FLAGS.out, FLAGS.layout, FLAGS.eval_fraction, FLAGS.seed,
                FLAGS.shard_size, FLAGS.max_side, FLAGS.workers, FLAGS.label_names, FLAGS.limit,
                listing=list_source())
    except (ValueError, OSError) as e:      # OSError: a full disk, a read-only folder
        sys.exit(f'error: {e}')
    except KeyboardInterrupt:
        sys.exit('interrupted: rerun the same command to continue where it stopped')


if __name__ == '__main__':
    define_flags()
    app.run(main)
