"""Broken on purpose: divergence, repeatability, bad folders, crash leftovers (real runs
on a few hundred real faces, no mocks)."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from conftest import REPO, SHARED, need_shared, refused, run_cli

PORTRAITS = os.path.join(SHARED, 'datasets', 'portraits')
SMALL = ['--net=nn_gender', '--input_size=40', '--batch_size=32']


def finite_checkpoint(path):
    reader = tf.train.load_checkpoint(path)
    return all(np.all(np.isfinite(reader.get_tensor(name)))
               for name, _ in tf.train.list_variables(path)
               if np.issubdtype(reader.get_tensor(name).dtype, np.floating))


def test_divergence_stops_the_run_and_keeps_the_last_good_checkpoint(utk_records, tmp_path):
    run = ['runner.py', *SMALL, f'--data_dir={utk_records}', f'--train_dir={tmp_path}',
           '--eval_every=10', '--log_every=1']
    run_cli(*run, '--max_steps=10')
    good = open(tmp_path / 'best' / 'best.json').read()
    proc = run_cli(*run, '--max_steps=60', '--learning_rate=1e8', check=False)
    assert proc.returncode != 0 and 'Traceback' not in proc.stderr, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith('error: ') and '--learning_rate' in line, line
    stopped = int(re.search(r'step (\d+)', line).group(1))
    assert stopped < 60
    # Nothing non-finite was written: the last checkpoint is the good one, the best unchanged.
    latest = tf.train.latest_checkpoint(str(tmp_path))
    assert latest.endswith('model.ckpt-10') and finite_checkpoint(latest)
    assert open(tmp_path / 'best' / 'best.json').read() == good
    assert finite_checkpoint(tf.train.latest_checkpoint(str(tmp_path / 'best')))


def test_the_same_seed_gives_the_same_run(utk_records, tmp_path):
    def trace(name):
        proc = run_cli('runner.py', *SMALL, f'--data_dir={utk_records}',
                       f'--train_dir={tmp_path / name}', '--max_steps=10', '--log_every=5',
                       '--eval_every=5', '--seed=3')
        # Losses, accuracies and evaluations; not the speed.
        return [re.sub(r' \d+ img/s ETA .*', '', line) for line in proc.stdout.splitlines()
                if line.startswith(('step ', 'eval at'))]
    first, second = trace('a'), trace('b')
    assert len(first) == 4 and first == second, (first, second)
    other = run_cli('runner.py', *SMALL, f'--data_dir={utk_records}',
                    f'--train_dir={tmp_path / "c"}', '--max_steps=10', '--log_every=5',
                    '--seed=4').stdout
    assert [line for line in other.splitlines() if line.startswith('step 5/')][0] \
        .split(' img/s')[0].rsplit(' ', 1)[0] != first[0].rsplit(' ', 1)[0]


def test_a_seeded_run_resumed_draws_a_stream_of_its_own_not_its_first_batches_again(
        utk_records, tmp_path):
    """A run with --seed stopped at step N and resumed starts a stream seeded by (seed, N):
    not the start of its own stream again (those faces, in that order and augmentation,
    were its first N batches), and the same at every resumption at N."""
    from core import config, model
    from data import records
    meta = records.read_meta(utk_records)

    def first_batch(train_dir):
        cfg = config.resolve({'mode': 'train', 'net': 'nn_gender', 'data_dir': utk_records,
                              'train_dir': str(train_dir), 'seed': 3}, {'seed'})
        with tf.Graph().as_default():
            start = model.training_input(cfg, meta, cfg.image_spec, steps_per_epoch=10)
            with tf.compat.v1.Session() as sess:
                sess.run(start.iterator.initializer)
                return list(sess.run(start.batch['filename']))
    fresh, stopped = tmp_path / 'fresh', tmp_path / 'stopped'
    fresh.mkdir()
    stopped.mkdir()
    (stopped / 'model.ckpt-40.index').write_bytes(b'')     # where a run stopped: step 40
    assert first_batch(fresh) == first_batch(fresh)
    resumed = first_batch(stopped)
    assert resumed == first_batch(stopped) and resumed != first_batch(fresh)


def test_bad_folders_get_one_line_each(tmp_path):
    empty = tmp_path / 'empty'
    empty.mkdir()
    refused(run_cli('runner.py', f'--data_dir={empty}', f'--train_dir={tmp_path / "run"}',
                    check=False), empty)

    # Photos in which no face can be found: the reasons, not a KeyError from training.
    noise = tmp_path / 'noise'
    rng = np.random.default_rng(0)
    for cls in ('a', 'b'):
        (noise / cls).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)).save(
                noise / cls / f'{i}.png')
    refused(run_cli('runner.py', f'--data_dir={noise}', f'--prepared_dir={tmp_path / "prep"}',
                    f'--train_dir={tmp_path / "run"}', check=False), noise, 'no face found')

    # One class only.
    need_shared(PORTRAITS)
    single = tmp_path / 'single'
    shutil.copytree(os.path.join(PORTRAITS, 'man'), single / 'man')
    refused(run_cli('runner.py', f'--data_dir={single}', '--detect=off',
                    f'--prepared_dir={tmp_path / "prep1"}', f'--train_dir={tmp_path / "run"}',
                    check=False), '(man)')

    refused(run_cli('runner.py', '--mode=predict', f'--image={empty}',
                    f'--train_dir={tmp_path / "run"}', '--num_classes=2', check=False), empty)


def test_links_to_nothing_looping_links_and_fifos_are_skipped_with_their_reason(tmp_path):
    """A FIFO in a photo folder once hung conversion forever, one broken link stopped it:
    each is now a skip line naming it, and the rest is converted; predict names a FIFO."""
    need_shared(PORTRAITS)
    photos = tmp_path / 'photos'
    for cls in ('man', 'woman'):
        (photos / cls).mkdir(parents=True)
        for name in sorted(os.listdir(os.path.join(PORTRAITS, cls)))[:3]:
            shutil.copy(os.path.join(PORTRAITS, cls, name), photos / cls / name)
    os.mkfifo(photos / 'man' / 'pipe.jpg')
    os.symlink(tmp_path / 'gone.jpg', photos / 'man' / 'dangling.jpg')
    os.symlink(photos / 'woman' / 'loop.jpg', photos / 'woman' / 'loop.jpg')
    proc = run_cli('-m', 'data.convert', f'--src={photos}', f'--out={tmp_path / "rec"}',
                   '--workers=1', timeout=120)
    for name in ('pipe.jpg', 'dangling.jpg', 'loop.jpg'):
        assert re.search(rf'skip \S*{name}: ', proc.stdout), (name, proc.stdout)
    meta = json.loads((tmp_path / 'rec' / 'dataset.json').read_text())
    assert sum(split['count'] for split in meta['splits'].values()) == 6
    refused(run_cli('runner.py', '--mode=predict', f'--image={photos / "man" / "pipe.jpg"}',
                    check=False), 'pipe.jpg', 'FIFO')


def test_a_batch_beyond_the_machines_memory_is_one_line_before_any_work(utk_records, tmp_path):
    """--batch_size=100000 once grew to 6 GB, then a segfault."""
    proc = run_cli('runner.py', '--net=cnn60', f'--data_dir={utk_records}',
                   f'--train_dir={tmp_path / "run"}', '--batch_size=10000000', check=False)
    refused(proc, '--batch_size=10000000')
    assert not (tmp_path / 'run').exists()


def test_a_shard_truncated_under_a_training_is_named_and_the_step_kept(utk_records, tmp_path):
    """A truncated TFRecord ended a training in TensorFlow's DataLossError traceback."""
    data = tmp_path / 'data'
    shutil.copytree(utk_records, data)
    shard = sorted(data.glob('train-*.tfrecord'))[-1]
    shard.write_bytes(shard.read_bytes()[:shard.stat().st_size - 5000])
    proc = run_cli('runner.py', '--net=cnn60', f'--data_dir={data}', '--batch_size=16',
                   f'--train_dir={tmp_path / "run"}', '--max_steps=60', '--cache_mb=0',
                   check=False)
    refused(proc, shard.name)
    assert tf.train.latest_checkpoint(str(tmp_path / 'run'))


def test_a_full_disk_while_training_is_one_line_naming_the_checkpoint(utk_records, tmp_path):
    """It showed TensorFlow's out-of-memory hint and named no path."""
    small = tmp_path / 'small'
    small.mkdir()
    mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', str(small)],
                             capture_output=True, text=True)
    if mounted.returncode:
        pytest.skip(f'a small disk cannot be mounted here ({mounted.stderr.strip()})')
    try:
        proc = run_cli('runner.py', '--net=cnn60', f'--data_dir={utk_records}', '--max_steps=30',
                       '--batch_size=16', f'--train_dir={small / "run"}', check=False)
    finally:
        subprocess.run(['umount', str(small)])
    line = refused(proc, str(small / 'run' / 'model.ckpt-'), 'No space left on device')
    assert 'Hint' not in line


def test_a_killed_save_leaves_nothing_behind_after_the_next_start(utk_records, tmp_path):
    run = ['runner.py', *SMALL, f'--data_dir={utk_records}', f'--train_dir={tmp_path}',
           '--eval_every=5', '--keep_checkpoints=2']
    run_cli(*run, '--max_steps=15')
    # What a process killed in the middle of Saver.save leaves: the data file under its
    # temporary name, and the temporary folder of a sharded save.
    data = [n for n in os.listdir(tmp_path) if n.startswith('model.ckpt-15.data')][0]
    shutil.copy(tmp_path / data, tmp_path / 'model.ckpt-20.data-00000-of-00001.tempstate1234')
    (tmp_path / 'model.ckpt-20_temp').mkdir()
    (tmp_path / 'model.ckpt-20_temp' / 'part-00000-of-00001.index').write_text('half')
    # ... and a checkpoint the index no longer lists (the Saver forgot it when it died).
    for name in os.listdir(tmp_path):
        if name.startswith('model.ckpt-15.'):
            shutil.copy(tmp_path / name, tmp_path / name.replace('-15.', '-1.'))
    proc = run_cli(*run, '--max_steps=30')
    assert re.search(r'removed \d+ leftover file', proc.stdout), proc.stdout
    names = os.listdir(tmp_path)
    assert not [n for n in names if 'temp' in n], names
    kept = sorted(int(m.group(1)) for m in map(re.compile(r'model\.ckpt-(\d+)\.index').match,
                                               names) if m)
    assert kept == [25, 30], names        # --keep_checkpoints=2 across the resume


def test_preparation_workers_end_with_their_parent(tmp_path):
    need_shared(PORTRAITS)
    proc = subprocess.Popen([sys.executable, '-m', 'data.prepare', f'--src={PORTRAITS}',
                             f'--out={tmp_path}', '--workers=2'], cwd=REPO,
                            env=dict(os.environ, PYTHONPATH=REPO), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:                  # the workers are at work
        if 'photos' in line and '/100' in line:
            break
    children = [int(p) for p in subprocess.run(['pgrep', '-P', str(proc.pid)],
                                               capture_output=True, text=True).stdout.split()]
    assert children, 'no worker processes'
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 60
    while time.time() < deadline and any(os.path.exists(f'/proc/{pid}') and
                                         'Z' not in open(f'/proc/{pid}/stat').read().split()[2]
                                         for pid in children):
        time.sleep(0.5)
    alive = [pid for pid in children if os.path.exists(f'/proc/{pid}')
             and open(f'/proc/{pid}/stat').read().split()[2] != 'Z']
    assert not alive, f'workers {alive} outlived their killed parent'


def _start(args):
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL='2')
    return subprocess.Popen([sys.executable, *args], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_lock_holder(train_dir, proc, timeout=120):
    """Waits until `proc` has written its PID into the folder's lock file."""
    lock_file = os.path.join(train_dir, '.lock')
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if os.path.isfile(lock_file) and open(lock_file).read().strip() == str(proc.pid):
            return
        time.sleep(0.2)
    raise AssertionError(f'the training never held {lock_file}: {proc.communicate()}')


def test_a_second_training_into_a_busy_folder_is_refused_and_a_killed_one_frees_it(
        utk_records, tmp_path):
    run = ['runner.py', *SMALL, f'--data_dir={utk_records}', f'--train_dir={tmp_path}']
    first = _start(run + ['--max_steps=100000', '--log_every=10'])
    _wait_for_lock_holder(str(tmp_path), first)
    second = run_cli(*run, '--max_steps=10', check=False)
    assert first.poll() is None
    refused(second, f'process {first.pid}')
    for line in first.stdout:                         # training, its SIGTERM handler set
        if line.startswith('step '):
            break
    first.send_signal(signal.SIGTERM)                 # stopped cleanly, at a checkpoint
    out, err = first.communicate(timeout=600)
    assert first.returncode == 143, err
    stopped = int(re.search(r'Interrupted at step (\d+)', out).group(1))
    # SIGKILL leaves the lock file, but the kernel has dropped the lock: the next run trains.
    killed = _start(run + ['--max_steps=2000', '--log_every=100'])
    _wait_for_lock_holder(str(tmp_path), killed)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    again = run_cli(*run, f'--max_steps={stopped + 20}')
    assert 'Trained' in again.stdout


def test_a_copied_training_folder_predicts_with_its_own_weights(trained, tmp_path):
    """The copy outlives its original, which trained on and was then deleted."""
    from core import checkpoints
    original, copy = tmp_path / 'original', tmp_path / 'copy'
    shutil.copytree(trained['train_dir'], original)
    shutil.copytree(original, copy)
    own, last = (os.path.relpath(p, copy) for p in (checkpoints.choose(str(copy)),
                                                    checkpoints.latest(str(copy))))
    run_cli('runner.py', f'--train_dir={original}', f'--data_dir={trained["data_dir"]}',
            '--max_steps=80',
            '--eval_every=20', '--batch_size=32')
    shutil.rmtree(original)
    assert checkpoints.choose(str(copy)) == os.path.join(copy, own)
    assert checkpoints.latest(str(copy)) == os.path.join(copy, last)
    face = os.path.join(need_shared(PORTRAITS), 'man', sorted(os.listdir(
        os.path.join(PORTRAITS, 'man')))[0])
    out = run_cli('runner.py', '--mode=predict', f'--train_dir={copy}', f'--image={face}')
    assert 'face 1' in out.stdout


def _file_size_limit(limit):
    """For a child process: files may not grow past `limit` bytes; a write beyond fails
    with EFBIG, as on a full disk (SIGXFSZ ignored, so the write returns the error)."""
    def apply():
        import resource
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_checkpoint_that_cannot_be_written_is_one_line_and_the_last_good_one_loads(
        trained, tmp_path):
    folder = tmp_path / 'run'
    shutil.copytree(trained['train_dir'], folder)
    kept = tf.train.latest_checkpoint(str(folder))      # step 40, or 45 after another test
    weights = os.path.getsize(kept + '.data-00000-of-00001')
    next_step = int(kept.rsplit('-', 1)[1]) + 5
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL='2')
    proc = subprocess.run([sys.executable, 'runner.py', f'--train_dir={folder}',
                           f'--data_dir={trained["data_dir"]}', f'--max_steps={next_step}',
                           '--eval_every=5', '--batch_size=32'], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600,
                          preexec_fn=_file_size_limit(weights // 2))
    refused(proc, f'{folder}/model.ckpt-{next_step}', kept)
    from core import checkpoints
    assert checkpoints.latest(str(folder)) == kept
    face = os.path.join(need_shared(PORTRAITS), 'man', sorted(os.listdir(
        os.path.join(PORTRAITS, 'man')))[0])
    out = run_cli('runner.py', '--mode=predict', f'--train_dir={folder}', '--checkpoint=last',
                  f'--image={face}')
    assert 'face 1' in out.stdout
