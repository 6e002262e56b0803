"""What every bench shares: runner.py run as a user runs it, a model judged by eval, and
results kept so that a long bench resumes. Benches run from the repository's root:

    python -m bench.NAME --flags
"""
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Failed(SystemExit):
    """A command a bench needed failed: the bench stops with its output."""


def needs_bf16(name):
    """Stops bench `name`, which runs bf16 beside fp32, in one line before any work where
    this machine refuses --precision=bf16 (a CPU that would emulate it, slower)."""
    from core import precision
    try:
        precision.decide('bf16')
    except precision.Unsupported as refused:
        sys.exit(f'error: bench.{name} runs bf16 beside fp32, but {refused.reason}; '
                 'nothing was run')


def runner(*args, **how):
    """Runs `python runner.py <args>` from the repository, as `command` does."""
    return command('runner.py', *args, **how)


def command(*args, quiet=False, log=None, prefix=()):
    """Runs `python <args>` (a script or -m module of this repository) from its root and
    returns its output: shown when it ends unless `quiet`, or written to the file `log` as
    it comes (a long training's log to follow). `prefix`: a launcher, e.g. taskset. A
    failure stops the bench with the command's last lines."""
    line = [*prefix, sys.executable, *args]
    if not quiet and not log:
        print('$', ' '.join(args), flush=True)
    if log:
        os.makedirs(os.path.dirname(os.path.abspath(log)), exist_ok=True)
        with open(log, 'a') as out:
            proc = subprocess.run(line, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        with open(log) as f:
            output = f.read()
    else:
        proc = subprocess.run(line, cwd=REPO, text=True, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
        output = proc.stdout
        if not quiet:
            print(output, end='', flush=True)
    if proc.returncode:
        raise Failed(f'failed ({proc.returncode}): {" ".join(args)}\n{output[-3000:]}')
    return output


def judged(train_dir, *sets):
    """The eval reports of the best checkpoint of `train_dir`, one per set: a data_dir, or
    (data_dir, more runner.py flags) such as ('records/fairface_val', '--eval_flip')."""
    return in_one_process(*evals(train_dir, sets))


def trained_and_judged(train_dir, train_flags, *sets):
    """Trains into `train_dir` (runner.py's `train_flags`), then judges it as `judged` does,
    in one child process; its output shown when it ends. Returns (the training's outcome:
    its seconds, steps..., [the eval reports])."""
    outcome, *reports = in_one_process([*train_flags, f'--train_dir={train_dir}'],
                                       *evals(train_dir, sets), quiet=False)
    return outcome, reports


def evals(train_dir, sets):
    sets = [[s] if isinstance(s, str) else list(s) for s in sets]
    return [['--mode=eval', f'--train_dir={train_dir}', f'--data_dir={data_dir}', *extra]
            for data_dir, *extra in sets]


def in_one_process(*runs, quiet=True, timed=False):
    """What each runner.py command (a list of its flags) returned, as JSON: an eval's
    report, predict's rows, a training's outcome; `timed`: (that, its wall seconds). They
    run in order in one child process, through runner's own flags and configuration:
    TensorFlow is imported once, not once a command. Unless `quiet`, what they printed is
    shown when they end."""
    output = command('-m', 'bench.harness', json.dumps([list(r) for r in runs]), quiet=True)
    if not quiet:
        print(''.join(line for line in output.splitlines(True) if not line.startswith(REPORT)),
              end='', flush=True)
    ran = [json.loads(line[len(REPORT):]) for line in output.splitlines()
           if line.startswith(REPORT)]
    return [(r['result'], r['seconds']) if timed else r['result'] for r in ran]


REPORT = 'REPORT '


def _run_here(runs):
    """The child of `in_one_process`: each result printed as it comes (the next eval of
    the same folder writes over its report file), with its wall seconds; a training's
    outcome as its fields."""
    import dataclasses
    import time
    import common.quiet  # noqa: F401  (before TensorFlow)
    import runner
    for args in runs:
        start = time.time()
        try:
            runner.parse_flags(['runner.py', *args])
            result = runner.execute(*runner.flag_values())   # exits as runner.py would
        finally:
            runner.FLAGS.unparse_flags()
        if dataclasses.is_dataclass(result):
            result = dataclasses.asdict(result)
        print(REPORT + json.dumps({'result': result, 'seconds': time.time() - start},
                                  default=str), flush=True)


def report(figures, output=None):
    """A bench's figures printed as JSON, and written to `output` when given."""
    print(json.dumps(figures, indent=1))
    if output:
        with open(output, 'w') as f:
            json.dump(figures, f, indent=1)


class Results:
    """A bench's figures in a JSON file, written after every piece of work: a bench run
    again skips what is there (it resumes)."""

    def __init__(self, path):
        self.path = path
        self.data = {}
        if os.path.isfile(path):
            from common import jsonfile
            self.data = jsonfile.read(path)

    def __contains__(self, key):
        return key in self.data

    def __getitem__(self, key):
        return self.data[key]

    def get(self, key, default=None):
        return self.data.get(key, default)

    def put(self, key, value):
        self.data[key] = value
        self.save()
        return value

    def save(self):
        folder = os.path.dirname(self.path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        with open(self.path + '.tmp', 'w') as f:
            json.dump(self.data, f, indent=1)
        os.replace(self.path + '.tmp', self.path)


if __name__ == '__main__':
    _run_here(json.loads(sys.argv[1]))
