"""Training on a TensorFlow 1 ps/worker cluster: cnn.py's training step, spread out.

Every process runs the same command with its own --job_name/--task_index (or
TF_CONFIG); see core/cluster.py. To try it on one machine:

    python -m core.local_cluster --workers=2 -- --net=nn_gender --data_dir=records/utkface_gender

Parameter servers hold the variables (round-robin, replica_device_setter);
each worker reads its own part of the shards and runs the model; worker 0,
the chief, initialises or restores the variables and writes checkpoints and
summaries. A worker that dies and is started again rejoins the running job.
"""
import dataclasses
import math
import threading
import time

import tensorflow as tf

import cnn
from core import cluster as clusters
from core import config, model
from core.progress import format_duration
from data import records

v1 = tf.compat.v1


def train(cfg, cluster):
    server = clusters.start_server(cluster, model.session_config(cfg))
    if cluster.job_name == 'ps':
        print(f'parameter server {cluster.task_index} at {cluster.ps[cluster.task_index]}: '
              'serving variables (stop it when the workers are done)', flush=True)
        server.join()
        return {}
    who = cluster.name
    clusters.wait_for(cluster.ps, cfg.cluster_timeout, 'parameter server')
    if not cluster.is_chief:
        clusters.wait_for(cluster.workers[:1], cfg.cluster_timeout, 'chief worker')
    meta = records.read_meta(cfg.data_dir)
    if cluster.is_chief:
        config.write_run_file(cfg)
    replicas = cluster.num_workers if cfg.sync_replicas else 0
    # A global step stands for this many samples: the schedules count samples.
    samples_per_step = cfg.batch_size * max(1, replicas)
    n_train = meta['splits']['train']['count']
    steps_per_epoch = math.ceil(n_train / samples_per_step)
    max_steps = cfg.max_steps or cfg.epochs * steps_per_epoch

    graph = tf.Graph()
    with graph.as_default():
        if cfg.seed is not None:
            v1.set_random_seed(cfg.seed + cluster.task_index)
        setter = v1.train.replica_device_setter(worker_device=cluster.worker_device,
                                                cluster=cluster.spec)
        with v1.device(setter):
            t = cnn.build_training(cfg, meta, steps_per_epoch,
                                   part=(cluster.task_index, cluster.num_workers),
                                   sync_replicas=replicas)
        summaries = v1.summary.merge([v1.summary.scalar('loss', t.loss),
                                      v1.summary.scalar('accuracy', t.accuracy),
                                      v1.summary.scalar('learning_rate', t.lr)])
        scaffold = v1.train.Scaffold(
            local_init_op=tf.group(v1.local_variables_initializer(), t.start_input),
            summary_op=summaries, saver=v1.train.Saver(max_to_keep=cfg.keep_checkpoints))
        hooks = [v1.train.StopAtStepHook(last_step=max_steps)]
        if replicas:
            hooks.append(t.optimizer.make_session_run_hook(cluster.is_chief))
    eval_every = cfg.eval_every or steps_per_epoch
    print(f'{who} of {cluster.num_workers} ({"synchronous" if replicas else "asynchronous"} '
          f'updates, {len(cluster.ps)} parameter server(s)): {cfg.net}, batch {cfg.batch_size}, '
          f'to global step {max_steps}', flush=True)
    result = {'worker': cluster.task_index, 'steps': 0}
    if replicas:
        _quiet_cancelled_queue_runners()
    start = time.time()
    try:   # creating the session waits for the parameter servers and the chief
        session_config = cluster.session_config(model.session_config(cfg))
        with graph.as_default():
            if cluster.is_chief:
                session = v1.train.MonitoredTrainingSession(
                    master=server.target, is_chief=True, checkpoint_dir=cfg.train_dir,
                    scaffold=scaffold, hooks=hooks, save_checkpoint_steps=eval_every,
                    save_summaries_steps=cfg.log_every, log_step_count_steps=0,
                    config=session_config,
                    # In sync mode the gradient queue's runner thread is blocked at the end
                    # (the last round misses the gradients of workers already done);
                    # TensorFlow waits 120 s for it before cancelling.
                    stop_grace_period_secs=3)
            else:
                session = v1.train.MonitoredSession(_WorkerSessionCreator(
                    scaffold, server.target, session_config, cfg.cluster_timeout), hooks)
            _train_loop(session, t, cfg, who, max_steps, result)
    except tf.errors.DeadlineExceededError:
        raise clusters.ClusterError(f'{who}: the model was not ready after {cfg.cluster_timeout:.0f}'
                                    ' s: is the chief (worker 0) running? (--cluster_timeout)')
    except (tf.errors.UnavailableError, tf.errors.AbortedError) as e:
        raise clusters.ClusterError(f'{who}: lost a parameter server ({e.message.splitlines()[0]});'
                                    ' start it again, then this worker') from None
    elapsed = time.time() - start
    result.update(seconds=elapsed, images_per_second=result['steps'] * cfg.batch_size / elapsed)
    print(f'{who}: {result["steps"]} steps in {format_duration(elapsed)} '
          f'({result["images_per_second"]:.0f} img/s from this worker)', flush=True)
    if cluster.is_chief:
        print(f'checkpoints in {cfg.train_dir}; evaluating the last one in this process',
              flush=True)
        if meta['splits'].get('eval', {}).get('count', 0):
            result['eval'] = cnn.evaluate(dataclasses.replace(cfg, mode='eval',
                                                              checkpoint='last'))
    return result


def _train_loop(session, t, cfg, who, max_steps, result):
    window_loss, window_steps, window_start = 0.0, 0, time.time()
    with session as sess:
        while not sess.should_stop():
            _, loss, step = sess.run([t.train_op, t.loss, t.global_step])
            result['steps'] += 1
            window_loss, window_steps = window_loss + loss, window_steps + 1
            if result['steps'] % cfg.log_every == 0:
                now = time.time()
                rate = window_steps * cfg.batch_size / (now - window_start)
                print(f'{who}: global step {step}/{max_steps} loss {window_loss / window_steps:.4f}'
                      f' {rate:.0f} img/s (this worker)', flush=True)
                result.setdefault('first_loss', window_loss / window_steps)
                result['loss'] = window_loss / window_steps
                window_loss, window_steps, window_start = 0.0, 0, now


class _WorkerSessionCreator(v1.train.SessionCreator):
    """A non-chief worker's session: waits for the chief to have initialised the model,
    checking every second (TensorFlow's own creator checks every 30 s, so a worker
    joining a running job sat idle for up to half a minute)."""

    def __init__(self, scaffold, master, config, max_wait_secs):
        self.scaffold, self.master, self.config = scaffold, master, config
        self.max_wait_secs = max_wait_secs

    def create_session(self):
        self.scaffold.finalize()
        manager = v1.train.SessionManager(
            local_init_op=self.scaffold.local_init_op, ready_op=self.scaffold.ready_op,
            ready_for_local_init_op=self.scaffold.ready_for_local_init_op,
            graph=v1.get_default_graph(), recovery_wait_secs=1)
        return manager.wait_for_session(self.master, config=self.config,
                                        max_wait_secs=self.max_wait_secs)


def _quiet_cancelled_queue_runners():
    """The sync optimizer's queue-runner thread is cancelled when the chief's session
    closes, which is the normal end of a synchronous run: no traceback for that."""
    default = threading.excepthook

    def hook(args):
        if not issubclass(args.exc_type, tf.errors.CancelledError):
            default(args)
    threading.excepthook = hook
