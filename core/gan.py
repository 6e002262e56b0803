"""A generator/discriminator pair (a network registered with `generator=`) in the one
training loop of cnn.py: its training step, and the fixed-noise samples that stand in
for evaluation. The discriminator lives in the 'net' scope like any network (so
--mode=features shows it), the generator in 'generator'.

    python runner.py --net=dcgan --data_dir=records/utkface_faces --max_minutes=60
"""
import io
import os

import numpy as np
import tensorflow as tf

import networks
from core import model
from networks.dcgan import NOISE_DIM

v1 = tf.compat.v1
GENERATOR_SCOPE = 'generator'
ADAM_BETA1 = 0.5             # DCGAN's and SNGAN's: with 0.9 the two players oscillate
SAMPLES_PER_CLASS = 8        # the fixed-noise grid: one row per class
SAMPLES_DIR = 'samples'
SAMPLE_SEED = 0              # the grid's noise, the same through training and resumes


def generated(noise, labels, cfg, is_training, reuse=False, custom_getter=None):
    """(images in [-1, 1], end_points) of cfg.net's generator."""
    net = networks.get(cfg.net)
    with tf.device(model.compute_device()), \
            v1.variable_scope(GENERATOR_SCOPE, reuse=reuse, custom_getter=custom_getter):
        return net.generator(noise, labels, cfg.num_classes, is_training)


def _score_of_class(scores, labels):
    """The discriminator's realness of each image as its own class."""
    return tf.gather(scores, labels, axis=1, batch_dims=1)


def build_training(cfg, meta, steps_per_epoch, part=(0, 1), sync_replicas=0):
    """One step of the pair (hinge loss): the discriminator learns real from generated faces
    of the same classes, then the generator learns to fool the updated discriminator.
    Returns what cnn.build_training returns, `log` naming both losses."""
    # The faces as they are (flips only): other augmentation would be learnt as faces.
    spec = cfg.image_spec.plain(keep=('flip',))
    start = model.training_input(cfg, meta, spec, steps_per_epoch, part)
    batch, global_step, lr = start.batch, start.global_step, start.lr
    real, labels = batch['image'], batch['label']
    noise = tf.random.normal([cfg.batch_size, NOISE_DIM])
    fake, _ = generated(noise, labels, cfg, is_training=True)
    scores, _ = model.build_network(tf.concat([real, fake], 0), cfg, is_training=True)
    real_score, fake_score = tf.split(_score_of_class(scores, tf.concat([labels, labels], 0)), 2)
    d_loss = tf.reduce_mean(tf.nn.relu(1.0 - real_score)) + \
        tf.reduce_mean(tf.nn.relu(1.0 + fake_score))
    d_vars = v1.trainable_variables(model.NET_SCOPE)
    g_vars = v1.trainable_variables(GENERATOR_SCOPE)
    # Spectral-norm vectors of the discriminator, batch-norm statistics of the generator.
    with tf.control_dependencies(v1.get_collection(v1.GraphKeys.UPDATE_OPS)):
        d_train = v1.train.AdamOptimizer(lr, beta1=ADAM_BETA1).minimize(d_loss, var_list=d_vars)
    with tf.control_dependencies([d_train]):
        # The same generated batch, judged by the discriminator after its update.
        judged, _ = model.build_network(fake, cfg, is_training=False, reuse=True)
        g_loss = -tf.reduce_mean(_score_of_class(judged, labels))
        train_op = v1.train.AdamOptimizer(lr, beta1=ADAM_BETA1).minimize(
            g_loss, global_step=global_step, var_list=g_vars)
    ema = model.moving_average(cfg, global_step)
    if ema:         # generators average well: sampling uses the averaged weights
        with tf.control_dependencies([train_op]):
            train_op = ema.apply(g_vars)
    with tf.control_dependencies([train_op]):
        step_after = tf.identity(global_step.read_value())
    # How often the discriminator tells real (score > 0) from generated (score < 0).
    accuracy = tf.reduce_mean(tf.cast(tf.concat([real_score > 0, fake_score < 0], 0), tf.float32))
    summaries = v1.summary.merge([
        v1.summary.scalar('d_loss', d_loss), v1.summary.scalar('g_loss', g_loss),
        v1.summary.scalar('discriminator_accuracy', accuracy),
        v1.summary.scalar('learning_rate', lr)])
    return model.TrainingStep(
        batch=batch, train_op=train_op, loss=d_loss, accuracy=accuracy, lr=lr,
        global_step=global_step, step_after=step_after, start_input=start.iterator.initializer,
        progress=start.progress, optimizer=None, max_steps=start.max_steps, ema=ema,
        summaries=summaries,
        log=[('d_loss', d_loss, False), ('g_loss', g_loss, False), ('d_acc', accuracy, True)])


def to_uint8(images):
    """[-1, 1] floats -> uint8 RGB."""
    return np.clip(np.round((np.asarray(images) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def tile(images, columns, pad=2):
    """[N, H, W, 3] uint8 -> one grid image, `columns` images a row, white between."""
    n, h, w, c = images.shape
    rows = -(-n // columns)
    grid = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, c), 255, np.uint8)
    for i, image in enumerate(images):
        r, k = divmod(i, columns)
        grid[pad + r * (h + pad):pad + r * (h + pad) + h,
             pad + k * (w + pad):pad + k * (w + pad) + w] = image
    return grid


def random_seed():
    """A seed for when none is given (printed, so the faces can be made again)."""
    return int(np.random.SeedSequence().entropy % 10**6)


def sample_noise(seed, count, truncation=1.0):
    """The generator's input for `seed`: the same seed, the same faces. `truncation` < 1
    draws nearer the centre of the noise: more typical faces, less varied (BigGAN's trick)."""
    noise = np.random.default_rng(seed).standard_normal((count, NOISE_DIM)) * truncation
    return noise.astype(np.float32)


def sampler(cfg, t):
    """What the chief runs where a classifier evaluates: a grid of faces from fixed noise,
    one row per class, to TensorBoard and to train_dir/samples/step-N.png.
    Returns check_in(sess, step, writer, best, best_saver) -> best."""
    from PIL import Image
    count = SAMPLES_PER_CLASS * cfg.num_classes
    noise = tf.constant(sample_noise(SAMPLE_SEED, count))
    labels = tf.constant(np.repeat(np.arange(cfg.num_classes), SAMPLES_PER_CLASS), tf.int32)
    getter = model.averaged_getter(t.ema) if t.ema else None
    images, _ = generated(noise, labels, cfg, is_training=False, reuse=True,
                          custom_getter=getter)
    folder = os.path.join(cfg.train_dir, SAMPLES_DIR)

    def check_in(sess, step, writer, best, best_saver):
        grid = tile(to_uint8(sess.run(images)), SAMPLES_PER_CLASS)
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f'step-{step}.png')
        png = io.BytesIO()
        Image.fromarray(grid).save(png, format='PNG')
        with open(path, 'wb') as f:
            f.write(png.getvalue())
        writer.add_summary(v1.Summary(value=[v1.Summary.Value(
            tag='samples', image=v1.Summary.Image(
                height=grid.shape[0], width=grid.shape[1], colorspace=3,
                encoded_image_string=png.getvalue()))]), step)
        print(f'samples at step {step} (rows: {", ".join(cfg.classes)}): {path}', flush=True)
        return best
    return check_in


def describe(cfg):
    return f'samples in {os.path.join(cfg.train_dir, SAMPLES_DIR)}'

