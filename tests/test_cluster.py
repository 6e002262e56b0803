"""Scaling out: cluster settings, a real loopback ps/worker cluster, towers in one process."""
import contextlib
import json
import os
import re
import signal
import time

import pytest

from conftest import refused, run_cli
from tools import local_cluster
from core import checkpoints
from core.run.cluster import ClusterError, from_settings

# Small faces keep the cluster tests short: nn_gender's first FC layer shrinks from
# 13 M to 2 M weights, which every step moves between workers and parameter server.
SMALL = ['--net=nn_gender', '--input_size=40', '--batch_size=32', '--log_every=10']


def test_the_cluster_comes_from_flags_or_tf_config():
    c = from_settings(['a:1'], ['b:1', 'c:1'], 'worker', 1)
    assert (c.num_workers, c.is_chief, c.worker_device) == (2, False, '/job:worker/task:1')
    assert from_settings(None, None, None, 0, None) is None
    tf_config = {'cluster': {'ps': ['a:1'], 'chief': ['x:1'], 'worker': ['b:1', 'c:1']},
                 'task': {'type': 'worker', 'index': 1}}
    c = from_settings(None, None, None, 0, json.dumps(tf_config))
    assert c.workers == ['x:1', 'b:1', 'c:1'] and c.task_index == 2 and not c.is_chief
    tf_config['task'] = {'type': 'chief', 'index': 0}
    assert from_settings(None, None, None, 0, json.dumps(tf_config)).is_chief
    with pytest.raises(ClusterError, match='--ps_hosts'):
        from_settings(None, ['b:1'], 'worker', 0)
    with pytest.raises(ClusterError, match='2 host'):
        from_settings(['a:1'], ['b:1', 'c:1'], 'worker', 2)
    with pytest.raises(ClusterError, match='TF_CONFIG'):
        from_settings(None, None, None, 0, '{"cluster": {}}')


def test_an_unreachable_parameter_server_is_named_after_the_timeout(utk_records, tmp_path):
    ps_port, worker_port = local_cluster.free_ports(2)
    proc = run_cli('runner.py', *SMALL, f'--data_dir={utk_records}', f'--train_dir={tmp_path}',
                   f'--ps_hosts=localhost:{ps_port}', f'--worker_hosts=localhost:{worker_port}',
                   '--job_name=worker', '--cluster_timeout=3', check=False,
                   process=True)           # a cluster's server lives as long as its process
    refused(proc, f'localhost:{ps_port}')


class Task:
    """One process of the cluster, its output kept line by line."""

    def __init__(self, name, argv):
        self.name, self.argv, self.lines = name, argv, []
        self.proc = local_cluster.start(name, argv, out=self)

    def write(self, line):
        self.lines.append(line)

    def flush(self):
        pass

    def wait_for(self, pattern, timeout=180):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if any(re.search(pattern, line) for line in self.lines):
                return
            assert self.proc.poll() is None, ''.join(self.lines)
            time.sleep(0.2)
        raise AssertionError(f'{self.name}: no {pattern!r} in {timeout} s:\n' + ''.join(self.lines))


@contextlib.contextmanager
def cluster_tasks(jobs):
    """Starts every task of `jobs`; whatever still runs at the end is stopped."""
    tasks = {name: Task(name, argv) for name, argv in jobs.items()}
    try:
        yield tasks
    finally:
        for task in tasks.values():
            if task.proc.poll() is None:
                task.proc.terminate()
                task.proc.wait()


def losses(lines):
    return [float(m.group(1)) for m in (re.search(r'worker \d: step \d+/\d+ epoch [\d.]+ '
                                                  r'loss ([\d.]+)', line) for line in lines) if m]


def test_a_loopback_cluster_trains_survives_restarts_and_its_checkpoint_evaluates(
        utk_records, tmp_path):
    """A worker killed mid-run comes back and trains on; the chief stopped by SIGTERM saves
    a checkpoint where it stopped and exits 143, as a shell does (so `train && release` does
    not release an unfinished run), and the same command resumes it there."""
    train_dir = tmp_path / 'cluster'
    jobs = local_cluster.commands(1, 2, [*SMALL, f'--data_dir={utk_records}',
                                         f'--train_dir={train_dir}', '--max_steps=200',
                                         '--eval_every=100', '--seed=1'])
    with cluster_tasks(jobs) as tasks:
        tasks['worker1'].wait_for(r'worker 1: step \d+/200')
        first = tasks['worker0']
        tasks['worker1'].proc.send_signal(signal.SIGKILL)      # a worker dies mid-run,
        first.proc.send_signal(signal.SIGTERM)                 # the chief is stopped ...
        tasks['worker1'].proc.wait()
        assert first.proc.wait(timeout=120) == 143, ''.join(first.lines)
        before = len(tasks['worker1'].lines)
        tasks['worker1'] = again = Task('worker1', jobs['worker1'])   # ... both come back
        tasks['worker0'] = Task('worker0', jobs['worker0'])
        for name in ('worker0', 'worker1'):
            assert tasks[name].proc.wait(timeout=300) == 0, ''.join(tasks[name].lines)
    stopped = ''.join(first.lines)
    assert 'Traceback' not in stopped, stopped
    step = int(re.search(r'Interrupted at step (\d+): checkpoint saved', stopped).group(1))
    chief = ''.join(tasks['worker0'].lines)
    # (its step may be past the checkpoint's: the other worker trains on meanwhile)
    assert re.search(rf'Resuming from step \d+ \(.*model\.ckpt-{step}\)', chief), chief
    assert before > 0 and losses(again.lines), 'the restarted worker trained again:\n' + \
        ''.join(again.lines)
    chief_losses = losses(first.lines + tasks['worker0'].lines)
    # One batch of 32 faces is noisy (one ended 0.019 under the first, at 44% right): the
    # mean of the last three logged losses.
    assert sum(chief_losses[-3:]) / 3 < chief_losses[0] - 0.02, stopped + chief
    assert any(re.fullmatch(r'model\.ckpt-2\d\d\.index', name)       # it reached its last step
               for name in os.listdir(train_dir)), os.listdir(train_dir)
    # The chief evaluates as one machine does and keeps the best checkpoint.
    assert re.search(r'eval at step \d+: accuracy', chief), chief
    best = json.load(open(train_dir / 'best' / 'best.json'))
    assert best['step'] > 0 and (train_dir / 'best' / 'eval.json').is_file()
    # The chief's checkpoint evaluates in a single process, like any training's.
    proc = run_cli('runner.py', '--net=nn_gender', '--mode=eval', f'--train_dir={train_dir}',
                   '--checkpoint=last')
    assert re.search(r'accuracy \d+\.\d+% on \d+ images', proc.stdout)


def test_a_cluster_keeps_the_time_budget(utk_records, tmp_path):
    train_dir = tmp_path / 'budget'
    jobs = local_cluster.commands(1, 2, [*SMALL, f'--data_dir={utk_records}',
                                         f'--train_dir={train_dir}', '--max_steps=100000',
                                         '--max_minutes=0.1', '--eval_every=100000'])
    with cluster_tasks(jobs) as tasks:
        for name in ('worker0', 'worker1'):
            assert tasks[name].proc.wait(timeout=300) == 0, ''.join(tasks[name].lines)
    chief = ''.join(tasks['worker0'].lines)
    # Both workers ended on the budget, long before the steps: the chief's last checkpoint.
    last = checkpoints.latest(str(train_dir))
    step = int(last.rsplit('-', 1)[1])
    assert 0 < step < 100000 and os.path.isfile(last + '.index'), chief
    assert re.search(r'eval at step \d+: accuracy', chief), chief   # the last step is evaluated


def test_two_towers_follow_the_loss_curve_of_one_with_the_same_total_batch(utk_records,
                                                                             tmp_path):
    curves = {}
    for clones in (1, 2):
        proc = run_cli('runner.py', *SMALL, f'--data_dir={utk_records}', '--max_steps=120',
                       f'--train_dir={tmp_path / str(clones)}', f'--num_clones={clones}',
                       '--clone_on_cpu', '--seed=5', '--eval_every=1000')
        curves[clones] = [float(x) for x in re.findall(r'step \d+/120 epoch [\d.]+ loss ([\d.]+)',
                                                       proc.stdout)]
        if clones == 2:
            assert 'in 2 towers' in proc.stdout
    one, two = curves[1], curves[2]
    assert len(one) == len(two) == 12
    for curve in (one, two):                                          # both learn
        assert sum(curve[-3:]) / 3 < sum(curve[:3]) / 3 - 0.02, curve
    gap = sum(abs(a - b) for a, b in zip(one, two)) / len(one)
    assert gap < 0.05, (one, two)


def test_towers_without_gpus_need_the_cpu_flag(utk_records, tmp_path):
    proc = run_cli('runner.py', *SMALL, f'--data_dir={utk_records}', f'--train_dir={tmp_path}',
                   '--num_clones=2', check=False)
    refused(proc, '--num_clones=2', '--clone_on_cpu')


def test_averaged_tower_gradients_equal_the_gradient_of_the_whole_batch():
    """Two towers on the halves of a batch, gradients averaged = one tower on all of it."""
    import numpy as np
    import tensorflow as tf
    from core import config, model
    v1 = tf.compat.v1
    import dataclasses
    cfg = config.resolve({'mode': 'eval', 'net': 'nn_gender', 'num_classes': 2,
                          'input_size': '40', 'train_dir': '/nonexistent'},
                         explicit={'num_classes', 'input_size'})
    cfg = dataclasses.replace(cfg, keep_prob=1.0)     # no dropout: the towers' draws differ
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (8, 32, 32, 1)).astype(np.float32)
    labels = rng.integers(0, 2, 8).astype(np.int32)
    with tf.Graph().as_default():
        opt = v1.train.GradientDescentOptimizer(0.1)
        whole = opt.compute_gradients(model.loss_fn(
            model.build_network(images, cfg, is_training=True)[0], labels, cfg))
        towers = []
        for i, (x, y) in enumerate(zip(np.split(images, 2), np.split(labels, 2))):
            logits, _ = model.build_network(x, cfg, is_training=True, reuse=True)
            towers.append(opt.compute_gradients(model.loss_fn(logits, y, cfg)))
        averaged = model.average_gradients(towers)
        assert [v.name for _, v in averaged] == [v.name for _, v in whole]
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            a, b = sess.run([[g for g, _ in whole], [g for g, _ in averaged]])
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6)
