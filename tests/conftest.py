"""Shared fixtures: paths to ../shared, a small real UTKFace dataset, a briefly trained model."""
import contextlib
import fcntl
import io
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# FACECNN_SHARED elsewhere (or absent) shows what a clone without ../shared runs.
SHARED = os.environ.get('FACECNN_SHARED') or os.path.join(os.path.dirname(REPO), 'shared')
UTKFACE = os.path.join(SHARED, 'datasets', 'utkface')
BAD_INPUTS = os.path.join(SHARED, 'bad_inputs')


def need_shared(path):
    if not os.path.isdir(path):
        pytest.skip(f'{path} is absent (tests on real data need ../shared beside the repo)')
    return path


def run_cli(*args, check=True, timeout=300, process=False):
    """Runs `python <args>` in the repo like a user would; returns the CompletedProcess.
    runner.py's commands run in this process (run_runner) unless `process` asks for one of
    their own: to see what a terminal shows, TensorFlow's own output included."""
    if args and args[0] == 'runner.py' and not process:
        return run_runner(*args[1:], check=check)
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL='2')
    proc = subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f'{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}')
    return proc


def run_bench(name, *args):
    """`python -m bench.NAME <args>` from the repository; stops the test if it fails."""
    return run_cli('-m', f'bench.{name}', *args, timeout=900)


def run_runner(*args, check=True):
    """`python runner.py <args>` run by runner's own flag parsing and main in this process,
    from the repository as run_cli does; its exit code and output as run_cli returns them.
    TensorFlow is then imported once per test worker, not once per command (~4 s of CPU
    each). What must end a process (a signal, a kill) or change its environment goes
    through run_cli."""
    import runner
    out, err = io.StringIO(), io.StringIO()
    before = os.getcwd()
    code = 0
    try:
        os.chdir(REPO)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            runner.main(runner.parse_flags(['runner.py', *args]))
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (e.code is not None)
        if isinstance(e.code, str):
            err.write(e.code + '\n')
    finally:
        os.chdir(before)
        runner.FLAGS.unparse_flags()
    proc = subprocess.CompletedProcess(['runner.py', *args], int(code), out.getvalue(),
                                       err.getvalue())
    if check and proc.returncode != 0:
        raise AssertionError(f'{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}')
    return proc


def refused(proc, *names):
    """The one line of a refused command: a non-zero exit, one line on stderr that starts
    with 'error: ', no traceback; it names each of `names` (a flag, a file, a value).
    Asserting names, not wording, lets a message be improved without touching tests."""
    assert proc.returncode != 0 and 'Traceback' not in proc.stderr, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: '), proc.stderr
    for name in names:
        assert str(name) in lines[0], (name, lines[0])
    return lines[0]


def manifest():
    """{file name: what a careful tool does} from ../shared/bad_inputs/MANIFEST.tsv."""
    rows = {}
    with open(os.path.join(need_shared(BAD_INPUTS), 'MANIFEST.tsv'), encoding='utf-8') as f:
        next(f)
        for line in f:
            name, _what, action = line.rstrip('\n').split('\t')
            rows[name] = action
    return rows


def made_once(tmp_path_factory, worker_id, name, make):
    """A folder the tests only read, made once for the whole run: the xdist worker that
    asks first makes it under a lock, the other waits for it (pytest-xdist's recipe for a
    fixture made once). make(folder) returns the text kept beside it in <name>.log."""
    if worker_id == 'master':                   # no workers: this run's own folder
        root = tmp_path_factory.mktemp(name)
    else:                                       # the folder of this run, above the workers'
        root = tmp_path_factory.getbasetemp().parent
    out, log = root / name, root / f'{name}.log'
    with open(root / f'{name}.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not log.exists():
            text = make(out)
            log.write_text(text, encoding='utf-8')      # written last: the folder is whole
    return str(out), log.read_text(encoding='utf-8')


@pytest.fixture(scope='session')
def utk_records(tmp_path_factory, worker_id):
    """400 real UTKFace faces (gender labels) converted to TFRecords."""
    need_shared(UTKFACE)
    return made_once(tmp_path_factory, worker_id, 'utk', lambda out: run_cli(
        '-m', 'data.convert', f'--src={UTKFACE}', '--layout=utkface', f'--out={out}',
        '--limit=400', '--shard_size=150', '--workers=2').stdout)[0]


# The shared model's faces: 40 px cropped to 32, not the records' 100 cropped to 80, so that
# nn_gender's first fully connected layer, most of its arithmetic, is 6 times smaller for
# every test that trains it on or answers with it.
TRAINED_SIZE, TRAINED_CROP = 40, 32


@pytest.fixture(scope='session')
def trained(utk_records, tmp_path_factory, worker_id):
    """A nn_gender model trained for a few dozen steps on `utk_records`, and its log.
    Shared by every test: a test that trains on further does so in a copy."""
    args = ('--net=nn_gender', f'--input_size={TRAINED_SIZE}', f'--data_dir={utk_records}',
            '--max_steps=40', '--log_every=5', '--eval_every=20', '--batch_size=32', '--seed=3')
    train_dir, log = made_once(tmp_path_factory, worker_id, 'nn_gender', lambda out: run_cli(
        'runner.py', *args, f'--train_dir={out}').stdout)
    return {'train_dir': train_dir, 'data_dir': utk_records, 'log': log}


@pytest.fixture(scope='session')
def generator(utk_records, tmp_path_factory, worker_id):
    """A dcgan generator pair trained a few steps on `utk_records`, and its log."""
    args = ('--net=dcgan', f'--data_dir={utk_records}', '--max_steps=4', '--batch_size=16',
            '--log_every=2', '--eval_every=4', '--moving_average_decay=0.99', '--seed=1')
    train_dir, log = made_once(tmp_path_factory, worker_id, 'dcgan', lambda out: run_cli(
        'runner.py', *args, f'--train_dir={out}').stdout)
    return {'train_dir': train_dir, 'data_dir': utk_records, 'log': log}


# The files that take longest, started first: the two workers each take whole files, so a
# long file started last would run alone at the end (the README's took the last 9 minutes).
# (Measured on 2 cores: docs/measurements.md, "The suite".)
LONGEST_FIRST = ('test_bench.py', 'test_platform.py', 'test_bench_speed.py', 'test_cluster.py',
                 'test_readme.py', 'test_reliability.py', 'test_released.py',
                 'test_bench_precision.py', 'test_lite.py', 'test_finetune.py',
                 'test_networks.py', 'test_recipes.py', 'test_prepare.py', 'test_safety.py')


# The fast tier (-m "not slow") leaves out what trains, prepares photos or runs the
# platform end to end: every test of these files and every test that needs a fixture below.
SLOW_FILES = ('test_bench.py', 'test_platform.py', 'test_bench_speed.py', 'test_cluster.py',
              'test_readme.py', 'test_reliability.py', 'test_released.py',
              'test_bench_precision.py', 'test_finetune.py', 'test_recipes.py',
              'test_prepare.py', 'test_safety.py', 'test_demo_browser.py', 'test_gan.py',
              'test_quantize.py', 'test_distill.py', 'test_demo.py')
SLOW_FIXTURES = {'utk_records', 'trained', 'generator'}


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
    for item in items:
        if item.path.name in SLOW_FILES or SLOW_FIXTURES & set(getattr(item, 'fixturenames', ())):
            item.add_marker(pytest.mark.slow)
