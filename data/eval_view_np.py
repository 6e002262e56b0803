"""preprocess.eval_pipeline in numpy, for answers without TensorFlow: an aligned face
(uint8 RGB of any size) -> the network's input in [-1, 1].

    net_input = eval_pipeline(face, spec)        # spec: preprocess.ImageSpec

The same arithmetic as the TensorFlow pipeline: its antialiased bilinear resize (a
triangle filter widened by the shrink factor, tf.image.resize(antialias=True)) as two
weight matrices, the same grey weights, rounding and crop. tests/test_lite.py holds the
two to one grey level of each other.
"""
import functools

import numpy as np

GREY = np.array([0.2989, 0.5870, 0.1140], np.float32)    # tf.image.rgb_to_grayscale's


@functools.lru_cache(maxsize=16)
def resize_weights(size_in, size_out):
    """[size_out, size_in]: each output pixel's weights over the input pixels."""
    scale = size_out / size_in
    kernel_scale = max(1.0 / scale, 1.0)            # antialiasing: wider when shrinking
    centres = (np.arange(size_out) + 0.5) / scale
    sources = np.arange(size_in) + 0.5
    weights = np.maximum(0.0, 1.0 - np.abs(sources[None] - centres[:, None]) / kernel_scale)
    totals = weights.sum(axis=1, keepdims=True)
    return (weights / np.where(totals > 0, totals, 1.0)).astype(np.float32)


def resize(images, size):
    """[N, H, W, C] floats -> [N, h, w, C], TensorFlow's antialiased bilinear resize."""
    rows = resize_weights(images.shape[1], size[0])
    cols = resize_weights(images.shape[2], size[1])
    return np.einsum('ph,nhwc,qw->npqc', rows, images.astype(np.float32), cols,
                     optimize=True)


def eval_pipeline(faces, spec):
    """[N, H, W, 3] uint8 RGB -> [N, crop_h, crop_w, channels] float32 in [-1, 1]."""
    images = resize(np.asarray(faces), spec.input_size)
    if spec.channels == 1:
        images = (images * GREY).sum(axis=-1, keepdims=True)
    images = np.clip(np.round(images), 0, 255) / 255.0
    (in_h, in_w), (crop_h, crop_w) = spec.input_size, spec.crop_size
    if (in_h, in_w) != (crop_h, crop_w):
        if spec.eval_crop == 'resize':
            images = resize(images, spec.crop_size)
        else:
            top, left = (in_h - crop_h) // 2, (in_w - crop_w) // 2
            images = images[:, top:top + crop_h, left:left + crop_w, :]
    return (images * 2.0 - 1.0).astype(np.float32)
