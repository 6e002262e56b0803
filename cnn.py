"""The platform: train, eval, predict, features and export for any registered network.

Graph mode through tf.compat.v1; the input is tf.data over TFRecords (on the
CPU), the network runs on the GPU when there is one. Launched by runner.py:

    python runner.py --net=nn_gender --data_dir=records/utkface_gender   # train / resume
    python runner.py --net=nn_gender --mode=eval
    python runner.py --net=nn_gender --mode=predict --image=me.jpg
    python runner.py --net=nn_gender --mode=features --image=me.jpg
    python runner.py --net=nn_gender --mode=export
"""
import contextlib
import csv
import dataclasses
import datetime
import json
import math
import os
import signal
import time
import types

import numpy as np
import tensorflow as tf
from PIL import Image

from core import calibration, checkpoints, config, groups, metrics, model, visualize
from core import cluster as clusters
from core.progress import format_duration
from data import pipeline, preprocess, records
from data.images import BadImage, load_rgb

v1 = tf.compat.v1
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.gif', '.webp', '.tif', '.tiff')


def run(cfg):
    """Runs cfg.mode; returns what that mode produced (for callers and tests)."""
    modes = {'train': train, 'eval': evaluate, 'predict': predict, 'features': features,
             'export': export, 'demo': _demo}
    return modes[cfg.mode](cfg)


def _demo(cfg):
    import demo
    return demo.serve(cfg)


# ---------------------------------------------------------------- training

def _start_fresh(train_dir):
    """--fresh: the old run is moved aside, never deleted."""
    if os.path.isdir(train_dir) and os.listdir(train_dir):
        stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S')
        aside = f'{train_dir.rstrip(os.sep)}.old-{stamp}'
        os.rename(train_dir, aside)
        print(f'--fresh: moved the previous run to {aside}')


def _evaluate_split(sess, iterator, fetches):
    """Runs `fetches` (a dict of batch tensors) over the whole eval split; concatenates."""
    sess.run(iterator.initializer)
    parts = {k: [] for k in fetches}
    while True:
        try:
            out = sess.run(fetches)
        except tf.errors.OutOfRangeError:
            break
        for k, v in out.items():
            parts[k].append(v)
    return {k: np.concatenate(v) if v else np.array([]) for k, v in parts.items()}


def _eval_fetches(batch, cfg):
    logits, _ = model.inference_logits(batch['image'], cfg, reuse=v1.AUTO_REUSE)
    fetches = {'label': batch['label'], 'prediction': tf.argmax(logits, -1, output_type=tf.int32),
               'logits': logits, 'filename': batch['filename']}
    fetches.update({k: v for k, v in batch.items() if k.startswith('attr/')})
    return fetches


def build_training(cfg, meta, steps_per_epoch, part=(0, 1), sync_replicas=0):
    """The training step in the current graph: batch, train_op, loss, accuracy, lr,
    global_step, start_input (run it once per session before training), progress, and
    the optimizer (a SyncReplicasOptimizer with `sync_replicas` workers to aggregate).

    With cfg.num_clones > 1 the batch is split over that many towers sharing the
    variables, whose gradients are averaged (batch-norm updates come from the first
    tower, as slim's deployment did). `part`: this worker's share of the shards."""
    with model.on_cpu():
        train_ds = pipeline.make_dataset(cfg.data_dir, 'train', cfg.image_spec, cfg.batch_size,
                                         True, cfg.cache_mb, cfg.seed, meta, part)
        # Initializable, not one-shot: the OneShotIterator kernel can hold inter-op threads
        # and deadlock on small machines (tensorflow#10519).
        iterator = v1.data.make_initializable_iterator(train_ds)
        batch = iterator.get_next()
    global_step = v1.train.get_or_create_global_step()
    max_steps = cfg.max_steps or cfg.epochs * steps_per_epoch
    # Fraction of training done; the loop feeds the larger of steps and time under a budget.
    # steps_per_epoch counts the samples a global step stands for (batch x aggregated
    # workers), so the schedules follow samples seen, whatever the cluster.
    progress = v1.placeholder_with_default(
        tf.cast(global_step, tf.float32) / float(max(1, max_steps)), [], name='progress')
    lr = model.learning_rate(global_step, steps_per_epoch, cfg, progress)
    opt = model.optimizer(lr, cfg)
    if sync_replicas:
        opt = v1.train.SyncReplicasOptimizer(opt, replicas_to_aggregate=sync_replicas,
                                             total_num_replicas=sync_replicas)
    clones = cfg.num_clones
    images = tf.split(batch['image'], clones) if clones > 1 else [batch['image']]
    labels = tf.split(batch['label'], clones) if clones > 1 else [batch['label']]
    losses, tower_grads, all_logits = [], [], []
    for i in range(clones):
        with v1.name_scope(f'clone_{i}') if clones > 1 else contextlib.nullcontext():
            logits, _ = model.build_network(images[i], cfg, is_training=True, reuse=i > 0,
                                            device=model.clone_device(i, cfg))
            tower_loss = model.loss_fn(logits, labels[i], cfg)
            tower_grads.append(opt.compute_gradients(tower_loss,
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
    return types.SimpleNamespace(batch=batch, train_op=train_op, loss=loss, accuracy=accuracy,
                                 lr=lr, global_step=global_step, start_input=iterator.initializer,
                                 progress=progress, optimizer=opt)


class _StopRequested(Exception):
    pass


def train(cfg):
    cluster = clusters.from_config(cfg)
    if cluster:
        import distributed
        return distributed.train(cfg, cluster)
    meta = records.read_meta(cfg.data_dir)
    if cfg.fresh:
        _start_fresh(cfg.train_dir)
    config.write_run_file(cfg)
    n_train = meta['splits']['train']['count']
    steps_per_epoch = math.ceil(n_train / cfg.batch_size)
    max_steps = cfg.max_steps or cfg.epochs * steps_per_epoch
    eval_every = cfg.eval_every or steps_per_epoch
    has_eval = meta['splits'].get('eval', {}).get('count', 0) > 0
    spec = cfg.image_spec

    graph = tf.Graph()
    with graph.as_default():
        if cfg.seed is not None:
            v1.set_random_seed(cfg.seed)
        t = build_training(cfg, meta, steps_per_epoch)
        batch, train_op, loss, accuracy, lr, global_step = (
            t.batch, t.train_op, t.loss, t.accuracy, t.lr, t.global_step)
        if has_eval:
            with model.on_cpu():
                eval_ds = pipeline.make_dataset(cfg.data_dir, 'eval', spec, cfg.batch_size,
                                                False, cfg.cache_mb, meta=meta)
                eval_iterator = v1.data.make_initializable_iterator(eval_ds)
            eval_fetches = _eval_fetches(eval_iterator.get_next(), cfg)
        summaries = v1.summary.merge([
            v1.summary.scalar('loss', loss), v1.summary.scalar('accuracy', accuracy),
            v1.summary.scalar('learning_rate', lr),
            v1.summary.image('input', (batch['image'][:4] + 1.0) / 2.0, max_outputs=4)])
        saver = v1.train.Saver(max_to_keep=cfg.keep_checkpoints)
        best_saver = v1.train.Saver(max_to_keep=1)
        init = v1.global_variables_initializer()
    graph.finalize()

    def stop_on_term(signum, frame):
        raise _StopRequested()
    previous_handler = signal.signal(signal.SIGTERM, stop_on_term)
    best = checkpoints.best_record(cfg.train_dir) or {'accuracy': -1.0, 'step': 0}
    ckpt_prefix = os.path.join(cfg.train_dir, 'model.ckpt')
    result = {'train_dir': cfg.train_dir}
    with v1.Session(graph=graph, config=model.session_config(cfg)) as sess:
        last = checkpoints.latest(cfg.train_dir)
        if last:
            checkpoints.check_compatible(last, graph.get_collection(v1.GraphKeys.GLOBAL_VARIABLES))
            saver.restore(sess, last)
            print(f'Resuming from step {sess.run(global_step)} ({last})', flush=True)
        else:
            sess.run(init)
        sess.run(t.start_input)
        step = sess.run(global_step)
        result['start_step'] = step
        if step >= max_steps:
            print(f'Already trained to step {step} of {max_steps}: nothing to do '
                  '(raise --epochs or --max_steps to train on)')
            result.update(step=step, best=best)
            return result
        print(f'Training {cfg.net} on {n_train} images, {cfg.num_classes} classes, batch '
              f'{cfg.batch_size}, {steps_per_epoch} steps/epoch, to step {max_steps}, '
              + (f'in {cfg.num_clones} towers on {model.clone_device(0, cfg)}'
                 if cfg.num_clones > 1 else f'on {model.compute_device()}'), flush=True)
        writer = v1.summary.FileWriter(cfg.train_dir, graph if step == 0 else None)
        window_loss, window_acc, window_start, window_steps = 0.0, 0.0, time.time(), 0
        run_start, start_step = time.time(), step
        budget = cfg.max_minutes * 60.0
        out_of_time = False
        try:
            while step < max_steps and not out_of_time:
                log_now = (step + 1) % cfg.log_every == 0 or step + 1 == max_steps
                fetches = [train_op, loss, accuracy, lr]
                feed = None
                if budget:
                    used = time.time() - run_start
                    feed = {t.progress: max(step / max_steps, used / budget)}
                out = sess.run(fetches + [summaries] if log_now else fetches, feed)
                # Counted here: global_step fetched beside train_op may be read before its update.
                step += 1
                out_of_time = bool(budget) and time.time() - run_start >= budget
                loss_value, acc_value, lr_value = out[1:4]
                window_loss, window_acc, window_steps = (window_loss + loss_value,
                                                         window_acc + acc_value, window_steps + 1)
                if not math.isfinite(loss_value):
                    raise FloatingPointError(f'loss became {loss_value} at step {step}: lower '
                                             '--learning_rate')
                if log_now:
                    writer.add_summary(out[4], step)
                    now = time.time()
                    rate = window_steps * cfg.batch_size / (now - window_start)
                    eta = (max_steps - step) * (now - run_start) / max(step - start_step, 1)
                    if budget:
                        eta = min(eta, max(0.0, budget - (now - run_start)))
                    print(f'step {step}/{max_steps} epoch {step / steps_per_epoch:.2f} '
                          f'loss {window_loss / window_steps:.4f} '
                          f'acc {window_acc / window_steps * 100:.1f}% lr {lr_value:.2e} '
                          f'{rate:.0f} img/s ETA {format_duration(eta)}', flush=True)
                    result['loss'] = window_loss / window_steps
                    result.setdefault('first_loss', result['loss'])
                    window_loss, window_acc, window_start, window_steps = 0.0, 0.0, now, 0
                if step % eval_every == 0 or step == max_steps or out_of_time:
                    saver.save(sess, ckpt_prefix, global_step=step)
                    if has_eval:
                        out_eval = _evaluate_split(sess, eval_iterator, eval_fetches)
                        acc = float(np.mean(out_eval['label'] == out_eval['prediction']))
                        writer.add_summary(v1.Summary(value=[v1.Summary.Value(
                            tag='eval/accuracy', simple_value=acc)]), step)
                        mark = ''
                        if acc > best['accuracy']:
                            best = {'accuracy': acc, 'step': int(step)}
                            best_dir = os.path.join(cfg.train_dir, checkpoints.BEST_DIR)
                            best_saver.save(sess, os.path.join(best_dir, 'model.ckpt'),
                                            global_step=step)
                            records.write_json_atomic(
                                os.path.join(best_dir, checkpoints.BEST_FILE), best)
                            mark = ' (best so far)'
                        print(f'eval at step {step}: accuracy {acc * 100:.2f}% on '
                              f'{len(out_eval["label"])} images{mark}', flush=True)
        except (KeyboardInterrupt, _StopRequested):
            step = int(sess.run(global_step))   # the signal may land between a step and its count
            saver.save(sess, ckpt_prefix, global_step=step)
            print(f'\nInterrupted at step {step}: checkpoint saved; rerun the same command '
                  'to resume', flush=True)
            result['interrupted'] = True
        finally:
            signal.signal(signal.SIGTERM, previous_handler)
            writer.close()
        elapsed = time.time() - run_start
        done = step - start_step
        if out_of_time:
            print(f'Time budget of {cfg.max_minutes:g} minutes used up at step {step}', flush=True)
            result['out_of_time'] = True
        print(f'Trained {done} steps in {format_duration(elapsed)} '
              f'({done * cfg.batch_size / max(elapsed, 1e-9):.0f} img/s); best eval accuracy '
              f'{best["accuracy"] * 100:.2f}% at step {best["step"]}; checkpoints in {cfg.train_dir}')
        result.update(step=int(step), best=best, seconds=elapsed)
    if has_eval and not result.get('interrupted'):
        # The full report of the best checkpoint: per group, calibrated, with pictures.
        result['eval'] = evaluate(dataclasses.replace(cfg, mode='eval', checkpoint='best'))
    return result


# ---------------------------------------------------------------- evaluation

def evaluate(cfg):
    meta = records.read_meta(cfg.data_dir)
    split = 'eval' if 'eval' in meta['splits'] else 'train'
    if cfg.int8_model:
        return _evaluate_int8(cfg, split)
    graph = tf.Graph()
    with graph.as_default():
        with model.on_cpu():
            ds = pipeline.make_dataset(cfg.data_dir, split, cfg.image_spec, cfg.batch_size,
                                       False, cfg.cache_mb, meta=meta)
            iterator = v1.data.make_initializable_iterator(ds)
        fetches = _eval_fetches(iterator.get_next(), cfg)
    with v1.Session(graph=graph, config=model.session_config(cfg)) as sess:
        path = checkpoints.restore(sess, cfg.train_dir, cfg.checkpoint)
        out = _evaluate_split(sess, iterator, fetches)
    return _report(cfg, split, out, path)


def _evaluate_int8(cfg, split):
    """The same split, pipeline and report through an int8 model file; its report goes
    beside that file, and the checkpoint's calibration is left alone (the file carries its
    temperature already)."""
    from core import quantize
    net = quantize.Int8Network(cfg.int8_model).expect((*cfg.crop_size, cfg.channels))
    parts = {}
    for batch in quantize.split_batches(cfg, split, cfg.batch_size):
        logits = net.logits(batch.pop('image'))
        batch.update(logits=logits, prediction=logits.argmax(-1).astype(np.int32))
        for k, v in batch.items():
            parts.setdefault(k, []).append(v)
    out = {k: np.concatenate(v) for k, v in parts.items()}
    return _report(cfg, split, out, cfg.int8_model, suffix='_int8')


def _report(cfg, split, out, path, suffix=''):
    """Accuracy, groups (table + chart) and calibration of a split's logits, written beside
    the model at `path` (a checkpoint; or an int8 file, with `suffix` on every file name)."""
    report = metrics.classification_report(out['label'], out['prediction'], cfg.classes)
    report.update(checkpoint=path, data_dir=cfg.data_dir, split=split, eval_crop=cfg.eval_crop,
                  eval_flip=cfg.eval_flip)
    folder = os.path.dirname(path)
    attributes = {k[len('attr/'):]: v for k, v in out.items() if k.startswith('attr/')}
    report['groups'] = groups.group_report(out['label'], out['prediction'], cfg.classes,
                                           attributes)
    groups.bar_chart(report['groups'], os.path.join(folder, f'groups{suffix}.png'),
                     report['accuracy'])
    # "97%" should mean right 97% of the time: fit the temperature on this split.
    fitted = calibration.calibrate(out['logits'], out['label'], path)
    written = [f'groups{suffix}.png', f'reliability{suffix}.png']
    if not suffix:
        records.write_json_atomic(calibration.path_for(path, cfg.eval_flip), fitted)
        written.insert(0, os.path.basename(calibration.path_for(path, cfg.eval_flip)))
    calibration.reliability_diagram(out['logits'], out['label'], fitted['temperature'],
                                    os.path.join(folder, f'reliability{suffix}.png'))
    report['calibration'] = fitted
    json_path = os.path.join(folder, f'eval{suffix}.json')
    records.write_json_atomic(json_path, report)
    kind = 'int8 model' if suffix else 'checkpoint'
    print(f'{cfg.net} {kind} {path}, {split} split of {cfg.data_dir}'
          + (' (flip averaged)' if cfg.eval_flip else ''))
    print(metrics.format_report(report))
    print()
    print(groups.format_groups(report['groups']))
    print(f'\ncalibration: temperature {fitted["temperature"]:.3f}, expected calibration error '
          f'{fitted["ece_before"] * 100:.2f}% before, {fitted["ece_after"] * 100:.2f}% after')
    print(f'written to {json_path}, {", ".join(written)} in {folder}')
    return report


# ---------------------------------------------------------------- single images

def list_images(target):
    """A file, or every image-looking file below a folder (sorted); extension-less files count."""
    if os.path.isfile(target):
        return [target]
    if not os.path.isdir(target):
        raise FileNotFoundError(f'--image={target} does not exist')
    found = []
    for root, dirs, names in os.walk(target):
        dirs[:] = sorted(d for d in dirs if not d.startswith('.'))
        for name in sorted(names):
            ext = os.path.splitext(name)[1].lower()
            if not name.startswith('.') and (ext in IMAGE_EXTENSIONS or not ext):
                found.append(os.path.join(root, name))
    return found


class ImageModel:
    """A restored network answering single images through the shared eval preprocessing."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.image = v1.placeholder(tf.uint8, [None, None, 3], name='image')
            self.net_input = preprocess.eval_pipeline(self.image[None], cfg.image_spec)
            path = checkpoints.choose(cfg.train_dir, cfg.checkpoint)
            self.temperature = calibration.temperature_for(path, cfg.eval_flip)
            logits, end_points = model.inference_logits(self.net_input, cfg,
                                                        temperature=self.temperature)
            self.probabilities = tf.nn.softmax(logits)[0]
            self.layers = (self.net_input[0], {k: v[0] for k, v in end_points.items()},
                           self.probabilities)
            self.sess = v1.Session(graph=self.graph, config=model.session_config(cfg))
            self.checkpoint = checkpoints.restore(self.sess, cfg.train_dir, path)
        self.graph.finalize()
        self.int8 = None
        if cfg.int8_model:
            from core import quantize
            self.int8 = quantize.Int8Network(cfg.int8_model).expect(
                (*cfg.crop_size, cfg.channels))

    def probabilities_of(self, rgb):
        if self.int8:   # preprocessing here, the network (and its temperature) in the file
            net_input = self.sess.run(self.net_input, {self.image: rgb})
            return calibration.softmax(self.int8.logits(net_input))[0]
        return self.sess.run(self.probabilities, {self.image: rgb})

    def layers_of(self, rgb):
        """(network input, {layer name: activations}, probabilities) of one image, in one run."""
        return self.sess.run(self.layers, {self.image: rgb})


def find_faces(rgb, cfg):
    """[(box, aligned face)] of a photo, left to right; the whole image when --detect=off."""
    if cfg.detect == 'off':
        return [((0, 0, rgb.shape[1], rgb.shape[0]), rgb)]
    from data import faces
    found = faces.get_detector().detect(
        rgb, min_face=faces.DETECTABLE_FACE if cfg.detect == 'check' else cfg.smallest_face)
    if cfg.detect == 'check':
        return [((0, 0, rgb.shape[1], rgb.shape[0]), rgb)] if found else []
    found = sorted(found, key=lambda f: f.box[0])
    detector = faces.get_detector()
    return [(f.box, faces.align(rgb, faces.refine(rgb, f, detector), cfg.face_size, cfg.margin))
            for f in found]


def describe(probs, classes, uncertain_below):
    """'female 97.3%', or 'uncertain (female 55.1%)' below the confidence threshold."""
    best = int(np.argmax(probs))
    text = f'{classes[best]} {probs[best] * 100:.1f}%'
    return f'uncertain ({text})' if probs[best] < uncertain_below else text


def predict(cfg):
    """One line per face: `photo: face at x,y,w,h: female 97.3%`, or why there is none."""
    files = list_images(cfg.image)
    net = ImageModel(cfg)
    rows, annotated = [], []
    for path in files:
        try:
            rgb = load_rgb(path)
        except BadImage as e:
            print(f'{path}: skipped: {e}', flush=True)
            rows.append({'file': path, 'error': str(e)})
            continue
        found = find_faces(rgb, cfg)
        if not found:
            print(f'{path}: no face found', flush=True)
            rows.append({'file': path, 'error': 'no face found'})
        labels = []
        for i, (box, face) in enumerate(found, start=1):
            probs = net.probabilities_of(face)
            best = int(np.argmax(probs))
            x, y, w, h = (round(v) for v in box)
            where = f'face {i} at {x},{y},{w},{h}: ' if cfg.detect == 'on' else ''
            print(f'{path}: {where}{describe(probs, cfg.classes, cfg.uncertain_below)}',
                  flush=True)
            row = {'file': path, 'face': i, 'box': f'{x} {y} {w} {h}', 'class': cfg.classes[best],
                   'probability': float(probs[best]),
                   'uncertain': int(probs[best] < cfg.uncertain_below), 'error': ''}
            row.update({f'p_{name}': float(p) for name, p in zip(cfg.classes, probs)})
            rows.append(row)
            mark = '?' if probs[best] < cfg.uncertain_below else ''
            labels.append((box, f'{cfg.classes[best]}{mark} {probs[best] * 100:.0f}%'))
        if cfg.annotate:
            title = ', '.join(text for _, text in labels) or 'no face found'
            annotated.append((f'{os.path.basename(path)}: {title}',
                              annotate(rgb, labels, path, cfg.annotate)))
    if cfg.output:
        columns = ['file', 'face', 'box', 'class', 'probability', 'uncertain'] + [
            f'p_{c}' for c in cfg.classes] + ['error']
        with open(cfg.output, 'w', newline='') as f:
            writer = csv.DictWriter(f, columns, restval='')
            writer.writeheader()
            writer.writerows(rows)
        print(f'{len(rows)} results written to {cfg.output}')
    if cfg.annotate and len(annotated) > 1:
        grid_path = os.path.join(cfg.annotate, 'grid.png')
        photo_grid(annotated, grid_path)
        print(f'annotated photos and their grid written to {cfg.annotate}')
    return rows


def annotate(rgb, labels, path, out_dir):
    """Writes a copy of the photo with a box and a label per face; returns the copy."""
    os.makedirs(out_dir, exist_ok=True)
    image = draw_boxes(rgb, labels)
    stem = os.path.splitext(os.path.basename(path))[0]
    Image.fromarray(image).save(os.path.join(out_dir, f'{stem}.jpg'), quality=90)
    return image


def draw_boxes(rgb, labels):
    """A copy of the photo with a box and a label per face: labels = [(x, y, w, h), text]."""
    import cv2
    image = np.ascontiguousarray(rgb.copy())
    thick = max(2, round(max(image.shape[:2]) / 300))
    for (x, y, w, h), text in labels:
        p1, p2 = (round(x), round(y)), (round(x + w), round(y + h))
        colour = (230, 60, 140) if text.startswith('female') else (40, 120, 230)
        cv2.rectangle(image, p1, p2, colour, thick)
        scale = thick / 2.5
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        top = max(p1[1] - th - 2 * thick, 0)
        cv2.rectangle(image, (p1[0], top), (p1[0] + tw + 2 * thick, top + th + 2 * thick), colour, -1)
        cv2.putText(image, text, (p1[0] + thick, top + th + thick), cv2.FONT_HERSHEY_SIMPLEX,
                    scale, (255, 255, 255), thick, cv2.LINE_AA)
    return image


def photo_grid(annotated, path, tile=240, columns=5):
    """A grid of the annotated photos, each titled by its name and result."""
    from data.report_pictures import grid, labelled
    tiles = []
    for name, image in annotated:
        thumb = Image.fromarray(image)
        thumb.thumbnail((tile, tile))
        canvas = Image.new('RGB', (tile, tile), 'white')
        canvas.paste(thumb, ((tile - thumb.width) // 2, (tile - thumb.height) // 2))
        tiles.append(labelled(canvas, name, width=40))
    grid(tiles, columns).save(path)


def features(cfg):
    files = list_images(cfg.image)
    if len(files) != 1:
        raise FileNotFoundError('--mode=features takes one image file in --image')
    path = files[0]
    found = find_faces(load_rgb(path), cfg)
    if not found:
        raise FileNotFoundError(f'{path}: no face found (use --detect=off for a face crop)')
    face = found[0][1]
    net = ImageModel(cfg)
    net_input, layers, probs = net.layers_of(face)
    stem = os.path.splitext(os.path.basename(path))[0]
    out_dir = cfg.output or os.path.join(cfg.train_dir, 'features', stem)
    os.makedirs(out_dir, exist_ok=True)
    visualize.save_grid((net_input + 1.0) / 2.0, os.path.join(out_dir, '00_input.png'))
    np.save(os.path.join(out_dir, '00_input.npy'), net_input)
    written = {'00_input.png': net_input.shape}
    conv_layers = [name for name, v in layers.items() if v.ndim == 3 and name.startswith('conv')]
    for i, name in enumerate(conv_layers, start=1):
        base = f'{i:02d}_{name}'
        visualize.save_grid(layers[name], os.path.join(out_dir, f'{base}.png'))
        np.save(os.path.join(out_dir, f'{base}.npy'), layers[name])
        written[f'{base}.png'] = layers[name].shape
    print(f'{path}: {describe(probs, cfg.classes, cfg.uncertain_below)}')
    print(f'feature maps of {len(conv_layers)} layers (+ the input) written to {out_dir}:')
    for name, shape in written.items():
        print(f'  {name}  {shape}')
    return {'dir': out_dir, 'files': list(written)}


# ---------------------------------------------------------------- export

def export(cfg):
    """A SavedModel: uint8 RGB images [N, H, W, 3] of any size in, class probabilities out."""
    path = checkpoints.choose(cfg.train_dir, cfg.checkpoint)
    step = path.rsplit('-', 1)[-1]
    export_dir = cfg.export_dir or os.path.join(cfg.train_dir, 'export', step)
    if os.path.exists(export_dir):
        raise FileExistsError(f'{export_dir} exists already; give another --export_dir')
    if cfg.quantize == 'int8':
        from core import quantize
        quantize.check(cfg)
    graph = tf.Graph()
    with graph.as_default():
        images = v1.placeholder(tf.uint8, [None, None, None, 3], name='images')
        temperature = calibration.temperature_for(path, cfg.eval_flip)
        logits, _ = model.inference_logits(preprocess.eval_pipeline(images, cfg.image_spec), cfg,
                                           temperature=temperature)
        probabilities = tf.nn.softmax(logits, name='probabilities')
        classes = tf.argmax(logits, -1, name='classes')
        with v1.Session(graph=graph) as sess:
            checkpoints.restore(sess, cfg.train_dir, path)
            builder = v1.saved_model.Builder(export_dir)
            signature = v1.saved_model.predict_signature_def(
                inputs={'images': images},
                outputs={'probabilities': probabilities, 'classes': classes})
            builder.add_meta_graph_and_variables(
                sess, [v1.saved_model.tag_constants.SERVING],
                signature_def_map={'serving_default': signature}, strip_default_attrs=True)
            builder.save()
    with open(os.path.join(export_dir, 'labels.txt'), 'w') as f:
        f.writelines(f'{name}\n' for name in cfg.classes)
    info = dict(cfg.graph_settings(), classes=cfg.classes, checkpoint=path,
                eval_crop=cfg.eval_crop, eval_flip=cfg.eval_flip, temperature=temperature,
                face_size=cfg.face_size, margin=cfg.margin)
    print(f'SavedModel of {path} written to {export_dir}\n'
          "  signature 'serving_default': images uint8 [N, H, W, 3] RGB -> probabilities "
          f'[N, {cfg.num_classes}] over {", ".join(cfg.classes)}')
    if cfg.quantize == 'int8':
        info['int8'] = int8 = quantize.export(cfg, path, temperature, export_dir)
        line = f'int8 model written to {os.path.join(export_dir, int8["file"])} ' \
               f'({int8["megabytes"]:.1f} MB); use it with --int8_model'
        if 'count' in int8:
            line += (f'\n  on the {int8["count"]} faces of the eval split: int8 '
                     f'{int8["int8_accuracy"] * 100:.2f}%, fp32 {int8["fp32_accuracy"] * 100:.2f}%'
                     f', same class for {int8["agreement"] * 100:.2f}%')
        print(line)
    with open(os.path.join(export_dir, 'model.json'), 'w') as f:
        json.dump(info, f, indent=1)
    return export_dir
