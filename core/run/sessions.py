"""The session a training runs in, from one place, for one machine and for a cluster.

One machine: a plain Session that restores the newest checkpoint or initialises
the variables. A ps/worker cluster: the chief does the same on the parameter
servers' variables; every other worker waits (checking every second) until the
chief has done it. The training loop in cnn.py is the same for all of them.
"""
import contextlib
import threading

import tensorflow as tf

from core import checkpoints, model

v1 = tf.compat.v1


@contextlib.contextmanager
def training_session(cfg, place, server, graph, saver, local_init_op, init_fn=None,
                     sync_optimizer=None):
    """Yields (session, restored checkpoint path or None) for this `place` (cluster.Place)
    and its `server` (None alone). `init_fn(sess)` runs after the variables are initialised
    when there is no checkpoint (fine-tuning's restore)."""
    is_chief = place.is_chief
    master = server.target if server else ''
    config = place.session_config(model.session_config(cfg))
    with graph.as_default():
        # Ready when every variable is initialised (on the parameter servers, by the chief);
        # without these a worker would start on variables that do not exist yet.
        ready = v1.report_uninitialized_variables()
        ready_for_local_init = v1.report_uninitialized_variables(v1.global_variables())
    if sync_optimizer is not None:
        local_init_op = tf.group(local_init_op, sync_optimizer.chief_init_op if is_chief
                                 else sync_optimizer.local_step_init_op)
        ready_for_local_init = sync_optimizer.ready_for_local_init_op
    with graph.as_default():      # the caller's loop runs in the graph too
        manager = v1.train.SessionManager(
            local_init_op=local_init_op, ready_op=ready,
            ready_for_local_init_op=ready_for_local_init, graph=graph, recovery_wait_secs=1)
        last = checkpoints.latest(cfg.train_dir) if is_chief else None
        if last:
            checkpoints.check_compatible(last, graph.get_collection(v1.GraphKeys.GLOBAL_VARIABLES))
            if init_fn:
                print(f'{cfg.train_dir} holds a checkpoint already: resuming it, not starting '
                      'from --init_from (--fresh starts over from the base)', flush=True)
        if is_chief:
            session = manager.prepare_session(
                master, init_op=v1.global_variables_initializer(), saver=saver,
                checkpoint_dir=cfg.train_dir if last else None, config=config,
                init_fn=None if last else init_fn)
        else:
            session = manager.wait_for_session(master, config=config,
                                               max_wait_secs=cfg.cluster_timeout)
        coordinator = v1.train.Coordinator()
        if sync_optimizer is not None and is_chief:
            # What SyncReplicasOptimizer's session hook does: tokens for the first round,
            # and the queue runner that applies the aggregated gradients.
            session.run(sync_optimizer.get_init_tokens_op())
            sync_optimizer.get_chief_queue_runner().create_threads(session, coord=coordinator,
                                                                   daemon=True, start=True)
            _quiet_cancelled_queue_runners()
        try:
            yield session, last
        finally:
            coordinator.request_stop()
            session.close()


def _quiet_cancelled_queue_runners():
    """The sync optimizer's queue-runner thread is cancelled when the chief's session
    closes, which is the normal end of a synchronous run: no traceback for that."""
    default = threading.excepthook

    def hook(args):
        if not issubclass(args.exc_type, (tf.errors.CancelledError,
                                          tf.errors.OutOfRangeError)):
            default(args)
    threading.excepthook = hook
