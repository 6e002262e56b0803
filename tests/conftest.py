"""Shared fixtures: paths to ../shared, a small real UTKFace dataset, a briefly trained model."""
import fcntl
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(REPO), 'shared')
UTKFACE = os.path.join(SHARED, 'datasets', 'utkface')
BAD_INPUTS = os.path.join(SHARED, 'bad_inputs')


def need_shared(path):
    if not os.path.isdir(path):
        pytest.skip(f'{path} is absent (tests on real data need ../shared beside the repo)')
    return path


def run_cli(*args, check=True, timeout=300):
    """Runs `python <args>` in the repo like a user would; returns the CompletedProcess."""
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL='2')
    proc = subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f'{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}')
    return proc


def manifest():
    """{file name: what a careful tool does} from ../shared/bad_inputs/MANIFEST.tsv."""
    rows = {}
    with open(os.path.join(need_shared(BAD_INPUTS), 'MANIFEST.tsv'), encoding='utf-8') as f:
        next(f)
        for line in f:
            name, _what, action = line.rstrip('\n').split('\t')
            rows[name] = action
    return rows


@pytest.fixture(scope='session')
def utk_records(tmp_path_factory, worker_id):
    """400 real UTKFace faces (gender labels) converted to TFRecords. Only read by the
    tests, so the xdist workers of one run share one copy: the first to ask makes it under
    a lock, the other waits for it (pytest-xdist's recipe for a fixture made once)."""
    need_shared(UTKFACE)
    if worker_id == 'master':                   # no workers: this run's own folder
        root = tmp_path_factory.mktemp('records')
    else:                                       # the folder of this run, above the workers'
        root = tmp_path_factory.getbasetemp().parent
    out = root / 'utk'
    with open(root / 'utk.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / 'dataset.json').exists():
            run_cli('-m', 'data.convert', f'--src={UTKFACE}', '--layout=utkface', f'--out={out}',
                    '--limit=400', '--shard_size=150', '--workers=2')
    return str(out)


@pytest.fixture(scope='session')
def trained(utk_records, tmp_path_factory):
    """A nn_gender model trained for a few dozen steps on `utk_records`, and its logs."""
    train_dir = str(tmp_path_factory.mktemp('train') / 'nn_gender')
    args = ('runner.py', '--net=nn_gender', f'--data_dir={utk_records}', f'--train_dir={train_dir}',
            '--max_steps=40', '--log_every=5', '--eval_every=20', '--batch_size=32', '--seed=3')
    first = run_cli(*args)
    return {'train_dir': train_dir, 'data_dir': utk_records, 'args': args, 'log': first.stdout}


@pytest.fixture(scope='session')
def generator(utk_records, tmp_path_factory):
    """A dcgan generator pair trained a few steps on `utk_records`, and its log."""
    train_dir = str(tmp_path_factory.mktemp('gan') / 'dcgan')
    args = ('runner.py', '--net=dcgan', f'--data_dir={utk_records}', f'--train_dir={train_dir}',
            '--max_steps=4', '--batch_size=16', '--log_every=2', '--eval_every=4',
            '--moving_average_decay=0.99', '--seed=1')
    return {'train_dir': train_dir, 'data_dir': utk_records, 'log': run_cli(*args).stdout}
