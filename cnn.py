"""The platform's heart: builds the graph of `--net`, trains it, evaluates it.

Graph mode through tf.compat.v1; the input is tf.data over TFRecords (on the
CPU), the network runs on the GPU when there is one. One training loop serves
one machine and a ps/worker cluster (core/run/sessions.py gives it its session);
only the chief evaluates, keeps the best checkpoint and writes summaries.
Launched by runner.py through modes/train.py (the other modes: modes/):

    python runner.py --net=nn_gender --data_dir=records/utkface_gender   # train / resume
"""
import contextlib
import dataclasses
import functools
import math
import os
import signal
import time
import types

import numpy as np
import tensorflow as tf

import networks
from common.progress import format_duration
from core import checkpoints, config, gan, model
from core.evaluate import report
from core.run import cluster as clusters
from core.run import guards, lock, sessions
from core.train import auxiliary, distill, finetune, folds, mixing
from data import pipeline, records

v1 = tf.compat.v1
DIVERGENCE_FACTOR = 100.0     # a loss this many times the first one has diverged


class Diverged(FloatingPointError):
    """The loss became non-finite or exploded; str(e) says where and what to change."""


class _StopRequested(BaseException):
    """SIGTERM during training: saved like Ctrl-C, then the exit code says so (a
    BaseException, as KeyboardInterrupt is: no `except Exception` on its way takes it)."""


# Exit codes of a training stopped by a signal, as shells report them (128 + the signal):
# `runner.py ... && next step` must not go on with an unfinished run.
EXIT_INTERRUPTED = {KeyboardInterrupt: 128 + signal.SIGINT, _StopRequested: 128 + signal.SIGTERM}


def build_training(cfg, meta, steps_per_epoch, part=(0, 1), sync_replicas=0):
    """The training step in the current graph: batch, train_op, loss, accuracy, lr,
    global_step, step_after (the global step once train_op has run), start_input (run
    once per session), progress, the optimizer (a SyncReplicasOptimizer over `sync_replicas`
    workers when > 0), summaries, and `log`: (name, tensor, is_percent) of the progress
    line, the first the loss watched for divergence. core/gan.py builds the same for a GAN.

    With cfg.num_clones > 1 the batch is split over that many towers sharing the
    variables, whose gradients are averaged (batch-norm updates come from the first
    tower, as slim's deployment did). `part`: this worker's share of the shards."""
    start = model.training_input(cfg, meta, cfg.image_spec, steps_per_epoch, part,
                                 finetune.mix(cfg, meta))
    iterator, batch, global_step, max_steps, progress, lr = (
        start.iterator, start.batch, start.global_step, start.max_steps, start.progress, start.lr)
    opt = model.optimizer(lr, cfg)
    targets = distill.soft_targets(cfg) if cfg.teacher else None
    if sync_replicas:
        opt = v1.train.SyncReplicasOptimizer(opt, replicas_to_aggregate=sync_replicas,
                                             total_num_replicas=sync_replicas)
    clones = cfg.num_clones
    towers = [batch] if clones == 1 else [
        dict(zip(batch, parts)) for parts in zip(*(tf.split(v, clones) for v in batch.values()))]
    losses, tower_grads, all_logits = [], [], []
    mix_seed = pipeline.run_seed(cfg.seed)
    for i, tower in enumerate(towers):
        with v1.name_scope(f'clone_{i}') if clones > 1 else contextlib.nullcontext():
            mixed = mixing.mix(tower['image'], global_step, cfg, mix_seed + i)
            logits, end_points = model.build_network(
                mixed.images if mixed else tower['image'], cfg, is_training=True, reuse=i > 0,
                device=model.clone_device(i, cfg))
            tower_loss = mixing.loss(logits, tower['label'], mixed, cfg) if mixed else \
                model.loss_fn(logits, tower['label'], cfg)
            if targets is not None:
                tower_loss = distill.loss(logits, tower, cfg, tower_loss, targets)
            tower_loss += auxiliary.loss(end_points, tower, cfg, model.NET_SCOPE, reuse=i > 0)
            tower_grads.append(opt.compute_gradients(tower_loss, var_list=model.trainable(cfg),
                                                     colocate_gradients_with_ops=True))
        losses.append(tower_loss)
        all_logits.append(logits)
    loss = tf.add_n(losses) / clones if clones > 1 else losses[0]
    logits = tf.concat(all_logits, 0) if clones > 1 else all_logits[0]
    accuracy = tf.reduce_mean(tf.cast(
        tf.equal(tf.argmax(logits, -1, output_type=tf.int32), batch['label']), tf.float32))
    grads = model.average_gradients(tower_grads)
    update_ops = v1.get_collection(v1.GraphKeys.UPDATE_OPS, 'clone_0' if clones > 1 else None)
    with tf.control_dependencies(update_ops):
        train_op = opt.apply_gradients(grads, global_step)
    ema = model.moving_average(cfg, global_step)
    if ema:
        with tf.control_dependencies([train_op]):
            train_op = ema.apply(v1.trainable_variables(model.NET_SCOPE))
    with tf.control_dependencies([train_op]):
        step_after = tf.identity(global_step.read_value())
    summaries = v1.summary.merge([
        v1.summary.scalar('loss', loss), v1.summary.scalar('accuracy', accuracy),
        v1.summary.scalar('learning_rate', lr),
        v1.summary.image('input', (batch['image'][:4] + 1.0) / 2.0, max_outputs=4)])
    return types.SimpleNamespace(batch=batch, train_op=train_op, loss=loss, accuracy=accuracy,
                                 lr=lr, global_step=global_step, step_after=step_after,
                                 start_input=tf.group(iterator.initializer,
                                                      v1.tables_initializer()),
                                 progress=progress,
                                 optimizer=opt, max_steps=max_steps, ema=ema,
                                 summaries=summaries,
                                 log=[('loss', loss, False), ('acc', accuracy, True)])


def train(cfg):
    cluster = clusters.from_config(cfg)
    if cluster and cluster.job_name == 'ps':
        return clusters.serve_variables(cluster, cfg)
    meta = records.read_meta(cfg.data_dir)
    auxiliary.check(cfg, meta)
    guards.check_dataset(cfg, meta)
    guards.check_memory(cfg)
    finetune.check(cfg, meta)
    is_chief = cluster is None or cluster.is_chief
    if not is_chief:
        return _train(cfg, meta, cluster)
    run = _train_judged_by_folds if folds.wanted(cfg, meta, cluster) else _train
    with lock.hold(cfg.train_dir):
        if cfg.fresh and checkpoints.start_fresh(cfg.train_dir):
            with lock.hold(cfg.train_dir):      # the folder made anew is held too
                return run(cfg, meta, cluster)
        return run(cfg, meta, cluster)


def _train_judged_by_folds(cfg, meta, cluster=None):
    """Fine-tuning judged on every face (core/train/folds.py): a run per fold, each
    face answered by the run that did not train on it, the base's share chosen on those
    answers, then the model trained on all the faces, reported and calibrated on them."""
    per_fold, whole = [], False
    print(f'Judging the fine-tuning by {cfg.folds} folds over all the faces (fewer than '
          f'{config.FOLDS_BELOW} eval faces; --folds=0 judges on the eval split)', flush=True)
    for index in range(cfg.folds):
        fold_cfg = folds.fold_config(cfg, meta, index)
        with lock.hold(fold_cfg.train_dir), folds.logged(fold_cfg.train_dir):
            result = _train(fold_cfg, meta, cluster)
        if result.get('interrupted'):
            print(f'Interrupted in fold {index + 1}: rerun the same command to resume',
                  flush=True)
            return result
        answers, whole = folds.held_out_answers(fold_cfg, meta)
        per_fold.append(answers)
        print(folds.fold_line(index, cfg.folds, answers, whole), flush=True)
    judgement = folds.judge(per_fold, whole)
    print('\n'.join(judgement.lines), flush=True)
    final = dataclasses.replace(cfg, train_splits=folds.splits(meta),
                                base_share=judgement.share)
    if judgement.share == 1.0:       # training on would be put back whole: skip its epochs
        print(f'The base is kept: one step writes it into {cfg.train_dir}, without the '
              f'{cfg.epochs} epochs of training', flush=True)
        final = dataclasses.replace(final, max_steps=1, max_minutes=0.0)
    result = _train(final, meta, cluster)
    if 'seconds' in result and not result.get('interrupted'):
        path = checkpoints.choose(cfg.train_dir, 'last')
        result['eval'] = report.write(final, 'out-of-fold', judgement.outputs, path)
    return result


def _train(cfg, meta, cluster):
    is_chief = cluster is None or cluster.is_chief
    if is_chief:
        checkpoints.clear_leftovers(cfg.train_dir)
        config.write_run_file(cfg)
    server = _join_cluster(cfg, cluster, is_chief)
    plan = _plan(cfg, meta, cluster)
    g = _graph(cfg, meta, cluster, plan, is_chief)
    result = {'train_dir': cfg.train_dir, 'steps': 0}
    with _STOP.noted():
        with sessions.training_session(cfg, cluster, server, g.graph, g.saver, g.local_init,
                                       g.base.restore if g.base else None,
                                       g.t.optimizer if plan.replicas else None) as (sess, resumed):
            _session(sess, resumed, cfg, cluster, plan, g, result)
    if is_chief and plan.n_eval and not g.is_gan and 'seconds' in result \
            and not result.get('interrupted'):
        _final_report(cfg, result)
    return result


class _StopSignal:
    """Ctrl-C or SIGTERM during a training, noted by the handler and acted on by the loop
    between steps (check): a handler that raised could do so inside TensorFlow's session
    code while it held the session's graph lock, never released, and the checkpoint's
    sess.run then waited for it forever. The first signal counts; the ones after it (a
    supervisor's SIGTERM a second after Ctrl-C) wait until the checkpoint is saved."""

    def __init__(self):
        self.signum = None

    @contextlib.contextmanager
    def noted(self):
        self.signum = None
        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        signal.signal(signal.SIGTERM, self._note)
        if previous[signal.SIGINT] is signal.default_int_handler:   # an ignored one stays so
            signal.signal(signal.SIGINT, self._note)
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _note(self, signum, frame):
        self.signum = self.signum or signum

    def check(self):
        if self.signum:
            raise KeyboardInterrupt() if self.signum == signal.SIGINT else _StopRequested()


_STOP = _StopSignal()


def _join_cluster(cfg, cluster, is_chief):
    """The server of this process in a ps/worker cluster, once the others answer."""
    if not cluster:
        return None
    server = clusters.start_server(cluster, model.session_config(cfg))
    clusters.wait_for(cluster.ps, cfg.cluster_timeout, 'parameter server')
    if not is_chief:
        clusters.wait_for(cluster.workers[:1], cfg.cluster_timeout, 'chief worker')
    return server


def _plan(cfg, meta, cluster):
    """How long an epoch is, how often the chief evaluates, how many replicas average."""
    replicas = cluster.num_workers if cluster and cfg.sync_replicas else 0
    n_train = sum(meta['splits'][split]['count'] for split in cfg.train_splits)
    if cfg.fold:
        n_train = math.ceil(n_train * (cfg.fold[1] - 1) / cfg.fold[1])
    # An epoch is a pass over this dataset's faces, however many --mix_data adds to a batch.
    own_share = 1.0 - cfg.mix_share if cfg.mix_data else 1.0
    steps_per_epoch = math.ceil(n_train / (cfg.batch_size * own_share * max(1, replicas)))
    return types.SimpleNamespace(
        replicas=replicas, n_train=n_train, steps_per_epoch=steps_per_epoch,
        n_eval=0 if 'eval' in cfg.train_splits else meta['splits'].get('eval', {}).get('count', 0),
        eval_every=cfg.eval_every or max(steps_per_epoch, guards.MIN_EVAL_INTERVAL),
        who=f'{cluster.name}: ' if cluster else '', is_chief=cluster is None or cluster.is_chief)


def _graph(cfg, meta, cluster, plan, is_chief):
    """The training graph, what the chief does at each checkpoint, and the savers."""
    is_gan = networks.get(cfg.net).is_gan
    g = types.SimpleNamespace(graph=tf.Graph(), is_gan=is_gan, check_in=None, measure=None)
    with g.graph.as_default():
        if cfg.seed is not None:
            v1.set_random_seed(cfg.seed + (cluster.task_index if cluster else 0))
        with clusters.device_scope(cluster):
            part = (cluster.task_index, cluster.num_workers) if cluster else (0, 1)
            g.t = (gan.build_training if is_gan else build_training)(
                cfg, meta, plan.steps_per_epoch, part, sync_replicas=plan.replicas)
            if is_chief and is_gan:
                g.check_in = gan.sampler(cfg, g.t)
            elif is_chief and plan.n_eval:
                g.measure = _eval_measure(cfg, meta, g.t)
                g.check_in = functools.partial(_evaluate_during_training, measure=g.measure,
                                               cfg=cfg)
            g.weights_finite = model.all_finite(v1.global_variables())
            # Relative paths in the `checkpoint` files: a folder moved or copied is still itself.
            g.saver = v1.train.Saver(max_to_keep=cfg.keep_checkpoints, save_relative_paths=True)
            g.best_saver = v1.train.Saver(max_to_keep=1, save_relative_paths=True)
            g.base = finetune.Base(cfg) if is_chief and cfg.init_from else None
            g.local_init = tf.group(v1.local_variables_initializer(), g.t.start_input)
    return g


def _eval_measure(cfg, meta, t):
    """measure(sess) -> (accuracy, faces) of the current weights on the eval split."""
    with model.on_cpu():
        eval_ds = pipeline.make_dataset(cfg.data_dir, 'eval', cfg.image_spec, cfg.batch_size,
                                        False, cfg.cache_mb, meta=meta)
        eval_iterator = v1.data.make_initializable_iterator(eval_ds)
    return functools.partial(_eval_accuracy, iterator=eval_iterator,
                             fetches=model.eval_fetches(eval_iterator.get_next(), cfg, t.ema))


def _session(sess, resumed, cfg, cluster, plan, g, result):
    """Trains in an open session until the last step, the time budget, or a stop."""
    t, who = g.t, plan.who
    step = result['start_step'] = int(sess.run(t.global_step))
    result['best'] = checkpoints.best_record(cfg.train_dir) or {'accuracy': -1.0, 'step': 0}
    if resumed:
        print(f'{who}Resuming from step {step} ({resumed})', flush=True)
    if step >= t.max_steps:
        print(f'Already trained to step {step} of {t.max_steps}: nothing to do '
              '(raise --epochs or --max_steps to train on)')
        result['step'] = step
        return
    if g.base and g.base.whole and g.measure and not resumed:
        # The same faces the fine-tuned model is judged on, so the two can be compared.
        accuracy, count = g.measure(sess)
        result['base_eval'] = {'accuracy': accuracy, 'count': count}
        print(f'the base on the eval split, before fine-tuning: accuracy '
              f'{accuracy * 100:.2f}% on {count} images', flush=True)
    _banner(cfg, cluster, plan, t, step)
    writer = v1.summary.FileWriter(cfg.train_dir, g.graph if step == 0 else None) \
        if plan.is_chief else None
    keeper, window = _Keeper(cfg, plan, g, writer, result['best']), _Window(t, cfg, plan, step)
    try:
        step = _loop(sess, cfg, plan, g, writer, keeper, window, result, step)
    except (KeyboardInterrupt, _StopRequested) as stop:
        step = int(sess.run(t.global_step))
        keeper.save(sess, step)
        print(f'\n{who}Interrupted at step {step}' + (': checkpoint saved; rerun the '
              'same command to resume' if plan.is_chief else ''), flush=True)
        result['interrupted'] = EXIT_INTERRUPTED[type(stop)]
    except tf.errors.DataLossError:       # a shard truncated or overwritten under the run
        keeper.save(sess, int(sess.run(t.global_step)))
        raise records.damaged_shard(*filter(None, (cfg.data_dir, cfg.mix_data))) or \
            records.Damaged(f'a record of {cfg.data_dir} could not be read')
    finally:
        if writer:
            writer.close()
    _summary(cfg, plan, g, keeper, window, result, step)
    result.update(step=int(step), best=keeper.best)


def _banner(cfg, cluster, plan, t, step):
    where = (f'in {cfg.num_clones} towers on {model.clone_device(0, cfg)}'
             if cfg.num_clones > 1 else f'on {model.compute_device()}')
    if cluster:
        where += (f', {cluster.num_workers} workers ('
                  f'{"synchronous" if plan.replicas else "asynchronous"} updates), '
                  f'{len(cluster.ps)} parameter server(s)')
    print(f'{plan.who}Training {cfg.net} on {plan.n_train} images, {cfg.num_classes} classes, '
          f'batch {cfg.batch_size}, {plan.steps_per_epoch} steps/epoch, to step {t.max_steps}, '
          f'{where}', flush=True)
    if cfg.cpu_sized and step == 0:
        cpu = networks.get(cfg.net).defaults.cpu
        print(f'{plan.who}No GPU: {cfg.net} with its CPU defaults '
              f'({", ".join(f"{k}={v}" for k, v in cpu.items())}); flags override them',
              flush=True)


class _Keeper:
    """The chief's checkpoints: the last few (finite weights only, so a diverged run never
    overwrites a good one) and, through check_in, the best by eval accuracy."""

    def __init__(self, cfg, plan, g, writer, best):
        self.cfg, self.plan, self.g, self.writer, self.best = cfg, plan, g, writer, best
        self.prefix = os.path.join(cfg.train_dir, checkpoints.CHECKPOINT_NAME)
        self.saved_step = None

    def save(self, sess, step):
        if not self.plan.is_chief or self.saved_step == step:
            return
        if not sess.run(self.g.weights_finite):
            raise Diverged(f'the weights are no longer finite at step {step}: lower '
                           '--learning_rate; the last good checkpoint is kept')
        checkpoints.save(self.g.saver, sess, self.prefix, step)
        self.saved_step = step

    def check_in(self, sess, step, finished):
        """At each checkpoint: (at the end, the base's share averaged in) save, evaluate."""
        if finished and self.g.base:
            self.g.base.average_into(sess, self.cfg.base_share)
        self.save(sess, step)
        if self.g.check_in:
            self.best = self.g.check_in(sess, step=step, writer=self.writer, best=self.best,
                                        best_saver=self.g.best_saver)


class _Window:
    """The progress line: the mean of each logged value since the last line, the rate and
    an honest ETA (the time budget's end when that comes first)."""

    def __init__(self, t, cfg, plan, step):
        self.t, self.cfg, self.plan = t, cfg, plan
        self.run_start, self.start_step, self.first_loss = time.time(), step, None
        self._reset(self.run_start)

    def _reset(self, now):
        self.sums, self.steps, self.start = [0.0] * len(self.t.log), 0, now

    def add(self, values, step):
        loss = values[0]
        self.first_loss = loss if self.first_loss is None else self.first_loss
        if not math.isfinite(loss) or loss > DIVERGENCE_FACTOR * max(self.first_loss, 1.0):
            raise Diverged(f'training diverged at step {step}: loss {loss:.4g} (it started at '
                           f'{self.first_loss:.4g}); lower --learning_rate (now '
                           f'{self.cfg.learning_rate:g}). The last good checkpoint is kept.')
        self.sums = [a + b for a, b in zip(self.sums, values)]
        self.steps += 1

    def line(self, step, lr_value, budget):
        """The progress line; returns the mean loss of the window."""
        now = time.time()
        rate = self.steps * self.cfg.batch_size / (now - self.start)
        eta = (self.t.max_steps - step) * (now - self.run_start) / max(step - self.start_step, 1)
        if budget:
            eta = min(eta, max(0.0, budget - (now - self.run_start)))
        means = [total / self.steps for total in self.sums]
        shown = ' '.join(f'{name} {m * 100:.1f}%' if pct else f'{name} {m:.4f}'
                         for (name, _, pct), m in zip(self.t.log, means))
        print(f'{self.plan.who}step {step}/{self.t.max_steps} epoch '
              f'{step / self.plan.steps_per_epoch:.2f} {shown} lr {lr_value:.2e} '
              f'{rate:.0f} img/s ETA {format_duration(eta)}', flush=True)
        self._reset(now)
        return means[0]


def _loop(sess, cfg, plan, g, writer, keeper, window, result, step):
    """The training steps, until the last one or the end of the time budget."""
    t, budget = g.t, cfg.max_minutes * 60.0
    last_eval, out_of_time = step, False
    while step < t.max_steps and not out_of_time:
        _STOP.check()
        result['steps'] += 1
        summary_now = plan.is_chief and result['steps'] % cfg.log_every == 0
        fetches = [t.step_after, t.lr, [tensor for _, tensor, _ in t.log]]
        feed = None
        if budget:
            used = time.time() - window.run_start
            feed = {t.progress: max(step / t.max_steps, used / budget)}
        out = sess.run(fetches + [t.summaries] if summary_now else fetches, feed)
        step, lr_value = int(out[0]), out[1]
        out_of_time = bool(budget) and time.time() - window.run_start >= budget
        finished = step >= t.max_steps or out_of_time
        window.add(out[2], step)
        if summary_now:
            writer.add_summary(out[3], step)
        if result['steps'] % cfg.log_every == 0 or finished:
            result['loss'] = window.line(step, lr_value, budget)
            result.setdefault('first_loss', result['loss'])
        if plan.is_chief and (step // plan.eval_every > last_eval // plan.eval_every or finished):
            last_eval = step
            keeper.check_in(sess, step, finished)
    if out_of_time:
        result['out_of_time'] = True
    return step


def _summary(cfg, plan, g, keeper, window, result, step):
    """The closing lines of a training: where it stopped, how fast, the best eval."""
    elapsed = time.time() - window.run_start
    if result.get('out_of_time'):
        print(f'{plan.who}Time budget of {cfg.max_minutes:g} minutes used up at step {step}',
              flush=True)
    best = gan.describe(cfg) if g.is_gan else guards.describe_best(keeper.best, plan.n_eval)
    if 'eval' in cfg.train_splits and not cfg.fold:
        best = 'trained on every face, the eval faces too (the folds judged it)'
    print(f'{plan.who}Trained {step - window.start_step} steps in {format_duration(elapsed)} '
          f'({result["steps"] * cfg.batch_size / max(elapsed, 1e-9):.0f} img/s'
          + (' from this worker' if plan.who else '') + ')'
          + (f'; {best}; checkpoints in {cfg.train_dir}' if plan.is_chief else ''), flush=True)
    result['seconds'] = elapsed


def _final_report(cfg, result):
    """The full report of the checkpoint predict will use: per group, calibrated, pictures;
    after a fine-tuning, set against the base on the same faces."""
    result['eval'] = report.of_checkpoint(dataclasses.replace(cfg, mode='eval',
                                                              checkpoint='best'), 'eval')
    if result.get('base_eval'):
        print(guards.compare_with_base(result['eval'], result['base_eval'], cfg.init_from),
              flush=True)


def _eval_accuracy(sess, iterator, fetches):
    """(accuracy, faces) of the graph's current weights on the eval split."""
    out = pipeline.concatenate(pipeline.run_split(sess, iterator, fetches))
    return float(np.mean(out['label'] == out['prediction'])), int(len(out['label']))


def _evaluate_during_training(sess, measure, writer, step, best, best_saver, cfg):
    """Accuracy on the eval split; a new best is saved only when the split is large enough
    to tell (guards.MIN_EVAL_FACES), so an untrained step-1 model is never "best"."""
    acc, count = measure(sess)
    writer.add_summary(v1.Summary(value=[v1.Summary.Value(tag='eval/accuracy',
                                                          simple_value=acc)]), step)
    mark = ''
    if count >= guards.MIN_EVAL_FACES and acc > best['accuracy']:
        best = {'accuracy': acc, 'step': int(step), 'count': count}
        best_dir = os.path.join(cfg.train_dir, checkpoints.BEST_DIR)
        checkpoints.save(best_saver, sess, os.path.join(best_dir, checkpoints.CHECKPOINT_NAME),
                         step)
        records.write_json_atomic(os.path.join(best_dir, checkpoints.BEST_FILE), best)
        mark = ' (best so far)'
    print(f'eval at step {step}: accuracy {acc * 100:.2f}% on {count} images{mark}',
          flush=True)
    return best
