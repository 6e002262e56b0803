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


@dataclasses.dataclass(frozen=True)
class Plan:
    """How a training is laid out over its data."""
    n_train: int             # faces of this dataset a pass covers
    steps_per_epoch: int
    n_eval: int              # faces the chief evaluates on (0: none)
    eval_every: int          # steps between checkpoints and evaluations


@dataclasses.dataclass(frozen=True)
class Built:
    """The training graph, its savers, and what the chief does at each checkpoint."""
    graph: tf.Graph
    step: model.TrainingStep
    is_gan: bool
    check_in: object         # (sess, step, writer, best, best_saver) -> best; None: nothing
    measure: object          # sess -> (accuracy, faces) on the eval split; None: no split
    weights_finite: tf.Tensor
    saver: object
    best_saver: object
    base: object             # finetune.Base of --init_from, or None
    local_init: tf.Operation
    held_out: object         # folds.HeldOut of a fold's run, or None


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What a training did; runner.py exits with `interrupted` when it is set."""
    train_dir: str
    start_step: int = 0
    step: int = 0
    steps: int = 0           # steps this process ran this time
    loss: float = None       # the mean loss of the last progress line
    best: dict = None        # {'accuracy', 'step', 'count'} of the best checkpoint
    out_of_time: bool = False
    interrupted: int = 0     # 130 or 143: stopped by a signal, its checkpoint saved
    seconds: float = None    # None: there was nothing to train
    base_eval: dict = None   # the --init_from base on the same eval faces, before training
    eval: dict = None        # the final report of the checkpoint predict uses
    fold_answers: tuple = None   # a fold's run: folds.answers of its held-out faces


def build_training(cfg, meta, steps_per_epoch, part=(0, 1), sync_replicas=0):
    """The training step (model.TrainingStep) in the current graph; the optimizer is a
    SyncReplicasOptimizer over `sync_replicas` workers when > 0; `part`: this worker's
    share of the shards. core/gan.py builds the same for a GAN.

    With cfg.num_clones > 1 the batch is split over that many towers sharing the
    variables, whose gradients are averaged (batch-norm updates come from the first
    tower, as slim's deployment did)."""
    start = model.training_input(cfg, meta, cfg.image_spec, steps_per_epoch, part,
                                 finetune.mix(cfg, meta))
    opt = model.optimizer(start.lr, cfg)
    if sync_replicas:
        opt = v1.train.SyncReplicasOptimizer(opt, replicas_to_aggregate=sync_replicas,
                                             total_num_replicas=sync_replicas)
    loss, logits, grads = _towers(cfg, start, opt)
    batch, global_step = start.batch, start.global_step
    accuracy = tf.reduce_mean(tf.cast(
        tf.equal(tf.argmax(logits, -1, output_type=tf.int32), batch['label']), tf.float32))
    update_ops = v1.get_collection(v1.GraphKeys.UPDATE_OPS,
                                   'clone_0' if cfg.num_clones > 1 else None)
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
        v1.summary.scalar('learning_rate', start.lr),
        v1.summary.image('input', (batch['image'][:4] + 1.0) / 2.0, max_outputs=4)])
    return model.TrainingStep(
        batch=batch, train_op=train_op, loss=loss, accuracy=accuracy, lr=start.lr,
        global_step=global_step, step_after=step_after,
        start_input=tf.group(start.iterator.initializer, v1.tables_initializer()),
        progress=start.progress, optimizer=opt, max_steps=start.max_steps, ema=ema,
        summaries=summaries, log=[('loss', loss, False), ('acc', accuracy, True)])


def _towers(cfg, start, opt):
    """(loss, logits, averaged gradients) of the batch over cfg.num_clones towers."""
    clones, batch = cfg.num_clones, start.batch
    towers = [batch] if clones == 1 else [
        dict(zip(batch, parts)) for parts in zip(*(tf.split(v, clones) for v in batch.values()))]
    targets = distill.soft_targets(cfg) if cfg.teacher else None
    losses, tower_grads, all_logits = [], [], []
    mix_seed = pipeline.run_seed(cfg.seed)
    for i, tower in enumerate(towers):
        with v1.name_scope(f'clone_{i}') if clones > 1 else contextlib.nullcontext():
            mixed = mixing.mix(tower['image'], start.global_step, cfg, mix_seed + i)
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
    if clones == 1:
        return losses[0], all_logits[0], tower_grads[0]
    return (tf.add_n(losses) / clones, tf.concat(all_logits, 0),
            model.average_gradients(tower_grads))


def train(cfg):
    """Trains, or resumes, cfg.net on cfg.data_dir; returns an Outcome."""
    place = clusters.place_of(cfg)
    if place.serves_variables:
        return clusters.serve_variables(place.cluster, cfg)
    meta = records.read_meta(cfg.data_dir)
    auxiliary.check(cfg, meta)
    guards.check_dataset(cfg, meta)
    guards.check_hair_ages(cfg, meta)
    guards.check_memory(cfg)
    finetune.check(cfg, meta)
    if not place.is_chief:
        return _train(cfg, meta, place)
    run = _train_judged_by_folds if folds.wanted(cfg, meta, place.cluster) else _train
    with lock.hold(cfg.train_dir):
        if cfg.fresh and checkpoints.start_fresh(cfg.train_dir):
            with lock.hold(cfg.train_dir):      # the folder made anew is held too
                return run(cfg, meta, place)
        return run(cfg, meta, place)


def _train_judged_by_folds(cfg, meta, place):
    """Fine-tuning judged on every face (core/train/folds.py): a run per fold, each
    face answered by the run that did not train on it, the base's share chosen on those
    answers, then the model trained on all the faces, reported and calibrated on them."""
    per_fold, whole, start = [], False, time.time()
    print(f'Judging the fine-tuning by {cfg.folds} folds over all the faces (fewer than '
          f'{config.FOLDS_BELOW} eval faces; --folds=0 judges on the eval split)', flush=True)
    for index in range(cfg.folds):
        fold_cfg = folds.fold_config(cfg, meta, index)
        with lock.hold(fold_cfg.train_dir), folds.logged(fold_cfg.train_dir):
            outcome = _train(fold_cfg, meta, place)
        if outcome.interrupted:
            print(f'Interrupted in fold {index + 1}: rerun the same command to resume',
                  flush=True)
            return outcome
        answers, whole = outcome.fold_answers
        per_fold.append(answers)
        print(folds.fold_line(index, cfg.folds, answers, whole, time.time() - start),
              flush=True)
    judgement = folds.judge(per_fold, whole)
    print('\n'.join(judgement.lines), flush=True)
    records.write_json_atomic(os.path.join(cfg.train_dir, folds.FILE), judgement.figures)
    final = dataclasses.replace(cfg, train_splits=folds.splits(meta),
                                base_share=judgement.share)
    if judgement.share == 1.0:       # training on would be put back whole: skip its epochs
        print(f'The base is kept: one step writes it into {cfg.train_dir}, without the '
              f'{cfg.epochs} epochs of training', flush=True)
        final = dataclasses.replace(final, max_steps=1, max_minutes=0.0)
    outcome = _train(final, meta, place)
    if outcome.seconds is None or outcome.interrupted:
        return outcome
    path = checkpoints.choose(cfg.train_dir, 'last')
    return dataclasses.replace(
        outcome, eval=report.write(final, 'out-of-fold', judgement.outputs, path))


def _train(cfg, meta, place):
    if place.is_chief:
        checkpoints.clear_leftovers(cfg.train_dir)
    server = place.join(cfg)
    plan = _plan(cfg, meta, place)
    built = _build(cfg, meta, place, plan)
    if place.is_chief:        # after the graph: a base it refuses leaves the folder unclaimed
        config.write_run_file(cfg)
    with _STOP.noted(), sessions.training_session(
            cfg, place, server, built.graph, built.saver, built.local_init,
            built.base.restore if built.base else None,
            built.step.optimizer if place.replicas else None) as (sess, resumed):
        outcome = _session(sess, resumed, cfg, place, plan, built)
        if built.held_out and not outcome.interrupted:
            outcome = dataclasses.replace(
                outcome, fold_answers=folds.answers(built.held_out, sess, built.base))
    if place.is_chief and plan.n_eval and not built.is_gan and outcome.seconds is not None \
            and not outcome.interrupted:
        outcome = _final_report(cfg, outcome)
    return outcome


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


def _plan(cfg, meta, place):
    """How long an epoch is and how often the chief evaluates."""
    n_train = sum(meta['splits'][split]['count'] for split in cfg.train_splits)
    if cfg.fold:
        n_train = math.ceil(n_train * (cfg.fold[1] - 1) / cfg.fold[1])
    # An epoch is a pass over this dataset's faces, however many --mix_data adds to a batch.
    own_share = 1.0 - cfg.mix_share if cfg.mix_data else 1.0
    steps_per_epoch = math.ceil(n_train / (cfg.batch_size * own_share * max(1, place.replicas)))
    return Plan(
        n_train=n_train, steps_per_epoch=steps_per_epoch,
        n_eval=0 if 'eval' in cfg.train_splits else meta['splits'].get('eval', {}).get('count', 0),
        eval_every=cfg.eval_every or max(steps_per_epoch, guards.MIN_EVAL_INTERVAL))


def _build(cfg, meta, place, plan):
    """The training graph, what the chief does at each checkpoint, and the savers."""
    is_gan = networks.get(cfg.net).is_gan
    graph = tf.Graph()
    check_in = measure = None
    with graph.as_default():
        if cfg.seed is not None:
            v1.set_random_seed(cfg.seed + place.seed_offset)
        with place.device_scope():
            step = (gan.build_training if is_gan else build_training)(
                cfg, meta, plan.steps_per_epoch, place.part, sync_replicas=place.replicas)
            if place.is_chief and is_gan:
                check_in = gan.sampler(cfg, step)
            elif place.is_chief and plan.n_eval:
                measure = _eval_measure(cfg, meta, step)
                check_in = functools.partial(_evaluate_during_training, measure=measure,
                                             cfg=cfg)
            return Built(
                graph=graph, step=step, is_gan=is_gan, check_in=check_in, measure=measure,
                weights_finite=model.all_finite(v1.global_variables()),
                # Relative paths in `checkpoint` files: a folder moved or copied is itself.
                saver=v1.train.Saver(max_to_keep=cfg.keep_checkpoints, save_relative_paths=True),
                best_saver=v1.train.Saver(max_to_keep=1, save_relative_paths=True),
                base=finetune.Base(cfg) if place.is_chief and cfg.init_from else None,
                local_init=tf.group(v1.local_variables_initializer(), step.start_input),
                held_out=folds.held_out(cfg, meta, step.ema) if cfg.fold else None)


def _eval_measure(cfg, meta, step):
    """measure(sess) -> (accuracy, faces) of the current weights on the eval split."""
    with model.on_cpu():
        eval_ds = pipeline.make_dataset(cfg.data_dir, 'eval', cfg.image_spec, cfg.batch_size,
                                        False, cache_mb=cfg.cache_mb, meta=meta)
        eval_iterator = v1.data.make_initializable_iterator(eval_ds)
    return functools.partial(_eval_accuracy, iterator=eval_iterator,
                             fetches=model.eval_fetches(eval_iterator.get_next(), cfg, step.ema))


def _session(sess, resumed, cfg, place, plan, built):
    """Trains in an open session until the last step, the time budget, or a stop."""
    step = int(sess.run(built.step.global_step))
    done = Outcome(cfg.train_dir, start_step=step, step=step,
                   best=checkpoints.best_record(cfg.train_dir) or {'accuracy': -1.0, 'step': 0})
    if resumed:
        print(f'{place.prefix}Resuming from step {step} ({resumed})', flush=True)
    if step >= built.step.max_steps:
        print(f'Already trained to step {step} of {built.step.max_steps}: nothing to do '
              '(raise --epochs or --max_steps to train on)')
        return done
    base_eval = _base_eval(sess, built) if not resumed else None
    _banner(cfg, place, plan, built.step, step)
    writer = v1.summary.FileWriter(cfg.train_dir, built.graph if step == 0 else None) \
        if place.is_chief else None
    keeper = _Keeper(cfg, place, built, writer, done.best)
    window = _Window(built.step, cfg, place, plan, step)
    interrupted = 0
    try:
        step, out_of_time = _loop(sess, cfg, place, plan, built, writer, keeper, window, step)
    except (KeyboardInterrupt, _StopRequested) as stop:
        step, out_of_time = int(sess.run(built.step.global_step)), False
        keeper.save(sess, step)
        print(f'\n{place.prefix}Interrupted at step {step}' + (': checkpoint saved; rerun the '
              'same command to resume' if place.is_chief else ''), flush=True)
        interrupted = EXIT_INTERRUPTED[type(stop)]
    except tf.errors.DataLossError:       # a shard truncated or overwritten under the run
        keeper.save(sess, int(sess.run(built.step.global_step)))
        raise records.damaged_shard(*filter(None, (cfg.data_dir, cfg.mix_data))) or \
            records.Damaged(f'a record of {cfg.data_dir} could not be read')
    finally:
        if writer:
            writer.close()
    seconds = _summary(cfg, place, plan, built, keeper, window, step, out_of_time)
    return dataclasses.replace(done, step=step, steps=window.steps_run, loss=window.loss,
                               best=keeper.best, out_of_time=out_of_time,
                               interrupted=interrupted, seconds=seconds, base_eval=base_eval)


def _base_eval(sess, built):
    """A fine-tuning's base on the eval faces the fine-tuned model will be judged on, so
    that the two can be compared; None when there is nothing to compare."""
    if not (built.base and built.base.whole and built.measure):
        return None
    accuracy, count = built.measure(sess)
    print(f'the base on the eval split, before fine-tuning: accuracy '
          f'{accuracy * 100:.2f}% on {count} images', flush=True)
    return {'accuracy': accuracy, 'count': count}


def _banner(cfg, place, plan, step_graph, step):
    where = (f'in {cfg.num_clones} towers on {model.clone_device(0, cfg)}'
             if cfg.num_clones > 1 else f'on {model.compute_device()}')
    print(f'{place.prefix}Training {cfg.net} on {plan.n_train} images, {cfg.num_classes} '
          f'classes, batch {cfg.batch_size}, {plan.steps_per_epoch} steps/epoch, to step '
          f'{step_graph.max_steps}, {where}{place.describe()}', flush=True)
    if cfg.cpu_sized and step == 0:
        cpu = networks.get(cfg.net).defaults.cpu
        print(f'{place.prefix}No GPU: {cfg.net} with its CPU defaults '
              f'({", ".join(f"{k}={v}" for k, v in cpu.items())}); flags override them',
              flush=True)


class _Keeper:
    """The chief's checkpoints: the last few (finite weights only, so a diverged run never
    overwrites a good one) and, through check_in, the best by eval accuracy."""

    def __init__(self, cfg, place, built, writer, best):
        self.cfg, self.place, self.built, self.writer, self.best = cfg, place, built, writer, best
        self.prefix = os.path.join(cfg.train_dir, checkpoints.CHECKPOINT_NAME)
        self.saved_step = None

    def save(self, sess, step):
        if not self.place.is_chief or self.saved_step == step:
            return
        if not sess.run(self.built.weights_finite):
            raise Diverged(f'the weights are no longer finite at step {step}: lower '
                           '--learning_rate; the last good checkpoint is kept')
        checkpoints.save(self.built.saver, sess, self.prefix, step)
        self.saved_step = step

    def check_in(self, sess, step, finished):
        """At each checkpoint: (at the end, the base's share averaged in) save, evaluate."""
        if finished and self.built.base:
            self.built.base.average_into(sess, self.cfg.base_share)
        self.save(sess, step)
        if self.built.check_in:
            self.best = self.built.check_in(sess, step=step, writer=self.writer, best=self.best,
                                            best_saver=self.built.best_saver)


class _Window:
    """The progress line: the mean of each logged value since the last line, the rate and
    an honest ETA (the time budget's end when that comes first); the steps run and the
    last mean loss, for the outcome."""

    def __init__(self, step_graph, cfg, place, plan, step):
        self.t, self.cfg, self.place, self.plan = step_graph, cfg, place, plan
        self.run_start, self.start_step, self.first_loss = time.time(), step, None
        self.steps_run, self.loss = 0, None
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
        self.steps_run += 1

    def line(self, step, lr_value, budget):
        """Prints the progress line and starts the next window."""
        now = time.time()
        rate = self.steps * self.cfg.batch_size / (now - self.start)
        eta = (self.t.max_steps - step) * (now - self.run_start) / max(step - self.start_step, 1)
        if budget:
            eta = min(eta, max(0.0, budget - (now - self.run_start)))
        means = [total / self.steps for total in self.sums]
        shown = ' '.join(f'{name} {m * 100:.1f}%' if pct else f'{name} {m:.4f}'
                         for (name, _, pct), m in zip(self.t.log, means))
        print(f'{self.place.prefix}step {step}/{self.t.max_steps} epoch '
              f'{step / self.plan.steps_per_epoch:.2f} {shown} lr {lr_value:.2e} '
              f'{rate:.0f} img/s ETA {format_duration(eta)}', flush=True)
        self.loss = means[0]
        self._reset(now)


def _loop(sess, cfg, place, plan, built, writer, keeper, window, step):
    """The training steps, until the last one or the end of the time budget; returns
    (the global step reached, whether the budget ran out)."""
    t, budget = built.step, cfg.max_minutes * 60.0
    last_eval, out_of_time, finished = step, False, False
    fetches = [t.step_after, t.lr, [tensor for _, tensor, _ in t.log]]
    while not finished:
        _STOP.check()
        summary_now = place.is_chief and (window.steps_run + 1) % cfg.log_every == 0
        used = time.time() - window.run_start
        feed = {t.progress: max(step / t.max_steps, used / budget)} if budget else None
        out = sess.run(fetches + [t.summaries] if summary_now else fetches, feed)
        step, lr_value = int(out[0]), out[1]
        out_of_time = bool(budget) and time.time() - window.run_start >= budget
        finished = step >= t.max_steps or out_of_time
        window.add(out[2], step)
        if summary_now:
            writer.add_summary(out[3], step)
        if window.steps_run % cfg.log_every == 0 or finished:
            window.line(step, lr_value, budget)
        if place.is_chief and (step // plan.eval_every > last_eval // plan.eval_every or finished):
            last_eval = step
            keeper.check_in(sess, step, finished)
    return step, out_of_time


def _summary(cfg, place, plan, built, keeper, window, step, out_of_time):
    """The closing lines of a training: where it stopped, how fast, the best eval; returns
    the seconds it trained."""
    elapsed = time.time() - window.run_start
    if out_of_time:
        print(f'{place.prefix}Time budget of {cfg.max_minutes:g} minutes used up at step {step}',
              flush=True)
    best = gan.describe(cfg) if built.is_gan else guards.describe_best(keeper.best, plan.n_eval)
    if 'eval' in cfg.train_splits and not cfg.fold:
        best = 'trained on every face, the eval faces too (the folds judged it)'
    rate = window.steps_run * cfg.batch_size / max(elapsed, 1e-9)
    print(f'{place.prefix}Trained {step - window.start_step} steps in '
          f'{format_duration(elapsed)} ({rate:.0f} img/s'
          + (' from this worker' if place.prefix else '') + ')'
          + (f'; {best}; checkpoints in {cfg.train_dir}' if place.is_chief else ''), flush=True)
    return elapsed


def _final_report(cfg, outcome):
    """The full report of the checkpoint predict will use: per group, calibrated, pictures;
    after a fine-tuning, set against the base on the same faces."""
    outcome = dataclasses.replace(outcome, eval=report.of_checkpoint(
        dataclasses.replace(cfg, mode='eval', checkpoint='best'), 'eval'))
    if outcome.base_eval:
        print(guards.compare_with_base(outcome.eval, outcome.base_eval, cfg.init_from),
              flush=True)
    return outcome


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
