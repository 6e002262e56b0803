"""A whole ps/worker cluster on this machine in one command, for trying the cluster out.

    python -m tools.local_cluster --workers=2 -- --net=nn_gender \
        --data_dir=records/utkface_gender --train_dir=checkpoints/cluster --max_steps=600

Everything after `--` goes to every runner.py process. Starts the parameter
servers and workers on free loopback ports, prints their output prefixed with
their job, waits for the workers, then stops the parameter servers. Ctrl-C
stops them all. On several machines, run runner.py yourself on each with the
same --ps_hosts/--worker_hosts (README: "Training on several machines").
"""
import os
import socket
import subprocess
import sys
import threading

from absl import app, flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
flags.DEFINE_integer('ps', 1, 'Parameter servers.', lower_bound=1)
flags.DEFINE_integer('workers', 2, 'Workers (the first is the chief).', lower_bound=1)
FLAGS = flags.FLAGS


def free_ports(count):
    """Ports free on the loopback interface now (held open together, so all different)."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(('127.0.0.1', 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def commands(ps, workers, runner_flags):
    """{name: argv} of every process of a loopback cluster of `ps` and `workers` tasks."""
    ports = free_ports(ps + workers)
    ps_hosts = ','.join(f'localhost:{p}' for p in ports[:ps])
    worker_hosts = ','.join(f'localhost:{p}' for p in ports[ps:])
    base = [sys.executable, os.path.join(REPO, 'runner.py'), *runner_flags,
            f'--ps_hosts={ps_hosts}', f'--worker_hosts={worker_hosts}']
    jobs = {f'ps{i}': base + ['--job_name=ps', f'--task_index={i}'] for i in range(ps)}
    jobs.update({f'worker{i}': base + ['--job_name=worker', f'--task_index={i}']
                 for i in range(workers)})
    return jobs


def start(name, argv, out=sys.stdout):
    """Starts one task; a thread copies its output, each line prefixed with `name`."""
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=dict(os.environ, PYTHONPATH=REPO,
                                                TF_CPP_MIN_LOG_LEVEL='2'))

    def copy():
        for line in proc.stdout:
            out.write(f'[{name}] {line}')
            out.flush()
    threading.Thread(target=copy, daemon=True).start()
    return proc


def main(argv):
    jobs = commands(FLAGS.ps, FLAGS.workers, argv[1:])
    procs = {name: start(name, cmd) for name, cmd in jobs.items()}
    workers = [name for name in procs if name.startswith('worker')]
    failed = 0
    try:
        for name in workers:
            failed += procs[name].wait() != 0
    except KeyboardInterrupt:
        failed = 1
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in procs.values():
            proc.wait()
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    app.run(main)
