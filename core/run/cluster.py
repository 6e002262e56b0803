"""Where this process sits in a TensorFlow 1 ps/worker cluster, and its gRPC server.

The cluster comes from the classic flags or, equally, from TF_CONFIG:

    python runner.py ... --ps_hosts=a:2222 --worker_hosts=b:2222,c:2222 --job_name=worker --task_index=0
    TF_CONFIG='{"cluster": {"ps": ["a:2222"], "worker": ["b:2222", "c:2222"]},
                "task": {"type": "worker", "index": 0}}' python runner.py ...

Parameter servers hold the variables; workers run the model; worker 0 is the
chief (a TF_CONFIG "chief" job counts as worker 0, its workers after it): it
initialises or restores the variables, evaluates, keeps the best checkpoint and
writes summaries. A worker that dies and is started again rejoins the running job.
To try it on one machine:

    python -m tools.local_cluster --workers=2 -- --net=nn_gender --data_dir=records/utkface_gender
"""
import contextlib
import dataclasses
import json
import os
import socket
import time

from common.deferred import tensorflow as tf


class ClusterError(RuntimeError):
    pass


@dataclasses.dataclass
class Cluster:
    ps: list
    workers: list
    job_name: str          # 'ps' | 'worker'
    task_index: int

    @property
    def is_chief(self):
        return self.job_name == 'worker' and self.task_index == 0

    @property
    def num_workers(self):
        return len(self.workers)

    @property
    def spec(self):
        return tf.train.ClusterSpec({'ps': self.ps, 'worker': self.workers})

    @property
    def worker_device(self):
        return f'/job:worker/task:{self.task_index}'

    @property
    def name(self):
        return f'{self.job_name} {self.task_index}'

    def session_config(self, base=None):
        """Device filters: a worker talks to the parameter servers and itself only, so it
        neither waits for the other workers to start nor stalls when one of them dies."""
        config = tf.compat.v1.ConfigProto()
        if base is not None:
            config.CopyFrom(base)
        if self.job_name == 'worker':
            config.device_filters[:] = ['/job:ps', self.worker_device]
        return config


def from_settings(ps_hosts, worker_hosts, job_name, task_index, tf_config=None):
    """The Cluster of this process, or None to train in one process as usual."""
    if job_name or ps_hosts or worker_hosts:
        missing = [name for name, value in (('--ps_hosts', ps_hosts), ('--worker_hosts',
                   worker_hosts), ('--job_name', job_name)) if not value]
        if missing:
            raise ClusterError(f'a cluster needs {", ".join(missing)} as well')
        cluster = Cluster(list(ps_hosts), list(worker_hosts), job_name, int(task_index))
    elif tf_config:
        cluster = _from_tf_config(tf_config)
    else:
        return None
    hosts = cluster.ps if cluster.job_name == 'ps' else cluster.workers
    if not 0 <= cluster.task_index < len(hosts):
        raise ClusterError(f'--task_index={cluster.task_index} but the {cluster.job_name} job '
                           f'has {len(hosts)} host(s)')
    return cluster


def _from_tf_config(text):
    try:
        config = json.loads(text)
        spec, task = config['cluster'], config['task']
        chief = list(spec.get('chief', []))
        workers = chief + list(spec.get('worker', []))
        kind, index = task['type'], int(task.get('index', 0))
    except (ValueError, KeyError, TypeError) as e:
        raise ClusterError(f'cannot read TF_CONFIG ({e}): want {{"cluster": {{"ps": [...], '
                           f'"worker": [...]}}, "task": {{"type": ..., "index": ...}}}}') from None
    if kind == 'chief':
        kind, index = 'worker', 0
    elif kind == 'worker':
        index += len(chief)
    if kind not in ('ps', 'worker'):
        raise ClusterError(f'TF_CONFIG task type {kind!r}: this platform runs ps, chief and '
                           'worker tasks')
    if not spec.get('ps'):
        raise ClusterError('TF_CONFIG has no "ps" job: the variables need a parameter server')
    return Cluster(list(spec['ps']), workers, kind, index)


def from_config(cfg):
    return from_settings(cfg.ps_hosts, cfg.worker_hosts, cfg.job_name, cfg.task_index,
                         os.environ.get('TF_CONFIG'))


@dataclasses.dataclass(frozen=True)
class Place:
    """Where a training process runs: alone (no cluster, the simplest case) or as one task
    of a ps/worker cluster. The training loop asks this, never the cluster's roles."""
    cluster: Cluster = None
    sync: bool = False             # --sync_replicas: workers' gradients averaged per step

    @property
    def serves_variables(self):
        return bool(self.cluster) and self.cluster.job_name == 'ps'

    @property
    def is_chief(self):
        """Initialises or restores, evaluates, saves, writes summaries."""
        return self.cluster is None or self.cluster.is_chief

    @property
    def prefix(self):
        """Of this process's lines, so a cluster's logs say who wrote them."""
        return f'{self.cluster.name}: ' if self.cluster else ''

    @property
    def replicas(self):
        """Workers whose gradients are averaged each step (0: updates as they come)."""
        return self.cluster.num_workers if self.cluster and self.sync else 0

    @property
    def part(self):
        """(index, count): this process's share of the training shards."""
        return (self.cluster.task_index, self.cluster.num_workers) if self.cluster else (0, 1)

    @property
    def seed_offset(self):
        return self.cluster.task_index if self.cluster else 0

    def device_scope(self):
        return device_scope(self.cluster)

    def session_config(self, config):
        return self.cluster.session_config(config) if self.cluster else config

    def describe(self):
        """What the banner adds to the device: the cluster's shape."""
        if not self.cluster:
            return ''
        return (f', {self.cluster.num_workers} workers ('
                f'{"synchronous" if self.replicas else "asynchronous"} updates), '
                f'{len(self.cluster.ps)} parameter server(s)')

    def join(self, cfg):
        """This process's server (None alone), once the hosts it needs answer."""
        if not self.cluster:
            return None
        from core import model
        server = start_server(self.cluster, model.session_config(cfg))
        wait_for(self.cluster.ps, cfg.cluster_timeout, 'parameter server')
        if not self.is_chief:
            wait_for(self.cluster.workers[:1], cfg.cluster_timeout, 'chief worker')
        return server


def place_of(cfg):
    return Place(from_config(cfg), bool(cfg.sync_replicas))


def start_server(cluster, config=None):
    return tf.distribute.Server(cluster.spec, job_name=cluster.job_name,
                                task_index=cluster.task_index,
                                config=cluster.session_config(config), start=True)


def wait_for(hosts, timeout, who):
    """Blocks until every host:port accepts a TCP connection; a clear error after `timeout`
    seconds instead of TensorFlow's endless "CreateSession still waiting"."""
    deadline = time.time() + timeout
    for host in hosts:
        name, _, port = host.rpartition(':')
        announced = False
        while True:
            try:
                socket.create_connection((name, int(port)), timeout=2).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise ClusterError(
                        f'cannot reach {who} {host} after {timeout:.0f} s: is its process '
                        'started, the address right and the port open? (--cluster_timeout)')
                if not announced:
                    print(f'waiting for {who} {host} ...', flush=True)
                    announced = True
                time.sleep(0.5)


def serve_variables(cluster, cfg):
    """A parameter server's whole job: hold the variables until it is stopped."""
    from core import model
    server = start_server(cluster, model.session_config(cfg))
    print(f'parameter server {cluster.task_index} at {cluster.ps[cluster.task_index]}: '
          'serving variables (stop it when the workers are done)', flush=True)
    server.join()
    return {}


def device_scope(cluster):
    """Variables on the parameter servers (round-robin), the rest on this worker; nothing
    special on one machine."""
    if cluster is None:
        return contextlib.nullcontext()
    return tf.compat.v1.device(tf.compat.v1.train.replica_device_setter(worker_device=cluster.worker_device,
                                                    cluster=cluster.spec))
