"""The one image preprocessing of the platform, shared by training, eval, predict and export.

Two stages, so that the deterministic part can be cached between epochs:
1. `resize_for_network`: uint8 RGB -> uint8 at the network's input size and channels.
2. `train_view` (random crop, flip, brightness, contrast, colour, erasing) or `eval_view`
   (centre crop, or the whole image resized), then `normalize` to [-1, 1].
Eval, predict, feature maps and the exported SavedModel all call
`eval_pipeline`, so they cannot drift apart.
"""
import dataclasses
import math

from common.deferred import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class ImageSpec:
    """What the network sees and how training varies it; the fields are the run's settings
    of the same names (RunConfig.image_spec), which hold the defaults. Augmentations
    default to off."""
    input_size: tuple            # (h, w) after resizing
    crop_size: tuple             # (h, w) the network sees
    channels: int                # 1 or 3
    eval_crop: str = 'center'    # 'center' crop, or 'resize' the whole input to the crop size
    flip: bool = False
    brightness: float = 0.0      # max delta on the [0, 1] scale
    contrast: float = 0.0        # factor drawn from [1 - c, 1 + c]
    random_erasing: float = 0.0  # probability of erasing a rectangle (noise)
    saturation: float = 0.0      # colour nets: saturation factor drawn from [1 - s, 1 + s]
    hue: float = 0.0             # colour nets: max hue shift, a fraction of the colour circle
    grayscale: float = 0.0       # colour nets: probability of a grey face (black-and-white photos)
    hide_hair: float = 0.0       # probability of greying out hair and forehead (or all but the inner face)
    hide_hair_from_age: int = 0  # faces younger than this (by their recorded age) keep the hair
    margin: float = 0.0          # the stored faces' border (data.prepare --margin): where the brows lie

    def plain(self, keep=()):
        """The same geometry with every augmentation off but those named in `keep`."""
        geometry = ('input_size', 'crop_size', 'channels', 'eval_crop', 'margin')
        off = {f.name: f.default for f in dataclasses.fields(self)
               if f.name not in geometry and f.name not in keep}
        return dataclasses.replace(self, **off)


def resize_for_network(images, spec):
    """[N, H, W, 3] uint8 RGB -> [N, h, w, channels] uint8 at the network's input size."""
    images = tf.image.resize(tf.cast(images, tf.float32), spec.input_size, antialias=True)
    if spec.channels == 1:
        images = tf.image.rgb_to_grayscale(images)
    return tf.cast(tf.clip_by_value(tf.round(images), 0, 255), tf.uint8)


def normalize(images01):
    """[0, 1] floats -> [-1, 1], the range every network is trained on."""
    return images01 * 2.0 - 1.0


def train_view(image, spec, seed, age=None):
    """One resized [h, w, c] uint8 image -> an augmented float crop. The augmentation is a
    function of `seed` (an int [2] tensor, one per example): stateless random ops, so that
    parallel workers cannot draw in a different order from run to run. `age`: the face's
    recorded age (-1 unknown), read by --hide_hair_from_age."""
    crop, flip, brightness, contrast, erase, hair = tf.unstack(
        tf.random.experimental.stateless_split(seed, 6))
    image = tf.image.convert_image_dtype(image, tf.float32)
    image = tf.image.stateless_random_crop(image, [*spec.crop_size, spec.channels], crop)
    if spec.flip:
        image = tf.image.stateless_random_flip_left_right(image, flip)
    if spec.brightness:
        image = tf.image.stateless_random_brightness(image, spec.brightness, brightness)
    if spec.contrast:
        image = tf.image.stateless_random_contrast(image, 1 - spec.contrast, 1 + spec.contrast,
                                                   contrast)
    image = tf.clip_by_value(image, 0.0, 1.0)
    if spec.channels == 3 and (spec.saturation or spec.hue or spec.grayscale):
        # A key of its own, so that runs without colour changes draw as before.
        image = colour_jitter(image, spec, tf.random.experimental.stateless_fold_in(seed, 5))
    if spec.random_erasing:
        image = random_erasing(image, spec.random_erasing, erase)
    if spec.hide_hair:
        image = hide_hair(image, hair_probability(spec, age), hair, spec.margin)
    return normalize(image)


def hair_probability(spec, age):
    """--hide_hair, or 0 for a face recorded younger than --hide_hair_from_age: a child's
    gender is read mostly from the hair, an adult's studio portrait must be read without."""
    if not spec.hide_hair_from_age or age is None:
        return spec.hide_hair
    young = (age >= 0) & (age < spec.hide_hair_from_age)
    return tf.where(young, 0.0, spec.hide_hair)


def colour_jitter(image, spec, seed):
    """Saturation, hue and grey (research/slim's Inception colour distortion, plus grey):
    photos come with colour casts, stage lighting, filters and no colour at all, which a
    face set such as UTKFace rarely shows. `image` is [h, w, 3] in [0, 1]."""
    saturation, hue, grey = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    if spec.saturation:
        image = tf.image.stateless_random_saturation(image, 1 - spec.saturation,
                                                     1 + spec.saturation, saturation)
    if spec.hue:
        image = tf.image.stateless_random_hue(image, spec.hue, hue)
    if spec.grayscale:
        grey_image = tf.image.grayscale_to_rgb(tf.image.rgb_to_grayscale(image))
        image = tf.where(tf.random.stateless_uniform([], grey) < spec.grayscale, grey_image, image)
    return tf.clip_by_value(image, 0.0, 1.0)


def random_erasing(image, probability, seed, area=(0.02, 0.4), aspect=(0.3, 3.3)):
    """Random erasing (Zhong et al. 2020): with `probability`, a rectangle of `area` (a
    fraction of the image) and `aspect` (height / width) at a random place is filled with
    uniform noise, so the network cannot rely on any one part of the face."""
    keys = tf.unstack(tf.random.experimental.stateless_split(seed, 5))
    height, width, channels = image.shape
    size = tf.random.stateless_uniform([], keys[0], *area) * height * width
    ratio = tf.exp(tf.random.stateless_uniform([], keys[1], *(math.log(a) for a in aspect)))
    h = tf.clip_by_value(tf.cast(tf.round(tf.sqrt(size * ratio)), tf.int32), 1, height)
    w = tf.clip_by_value(tf.cast(tf.round(tf.sqrt(size / ratio)), tf.int32), 1, width)
    corner = tf.random.stateless_uniform([2], keys[2])
    top = tf.cast(corner[0] * tf.cast(height - h + 1, tf.float32), tf.int32)
    left = tf.cast(corner[1] * tf.cast(width - w + 1, tf.float32), tf.int32)
    rows, cols = tf.range(height)[:, None], tf.range(width)[None, :]
    inside = (rows >= top) & (rows < top + h) & (cols >= left) & (cols < left + w)
    apply = tf.random.stateless_uniform([], keys[3]) < probability
    noise = tf.random.stateless_uniform([height, width, channels], keys[4])
    return tf.where((inside & apply)[:, :, None], noise, image)


# The inner face of an aligned face (data.faces' template, --margin=0), as fractions of its
# side: from just above the brows (the eyes sit at 0.29) down, and the cheeks' width.
BROW_LINE = 0.20
INNER_FACE_COLUMNS = (0.14, 0.86)


def in_frame(fraction, margin):
    """A place in the template (a fraction of its side) as a fraction of a face stored with
    `margin` (data.faces.alignment_matrix: the template's side plus `margin` of it on
    every side)."""
    return (fraction + margin) / (1 + 2 * margin)


def hide_hair(image, probability, seed, margin=0.0):
    """With `probability`, the hair is greyed out: half of the time everything above the
    brows, half of the time all but the inner face (brows to chin, cheek to cheek), so
    that the face itself, not hair or styling, must carry the answer some of the time.
    `margin` is the stored faces' border: a wider framing moves the brows down."""
    keys = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    height, width, _ = image.shape
    rows = tf.range(height, dtype=tf.float32)[:, None] / height
    cols = tf.range(width, dtype=tf.float32)[None, :] / width
    left, right = (in_frame(c, margin) for c in INNER_FACE_COLUMNS)
    above = tf.broadcast_to(rows < in_frame(BROW_LINE, margin), [height, width])
    outside = above | (cols < left) | (cols >= right)
    draw = tf.random.stateless_uniform([2], keys[0])
    hidden = tf.where(draw[1] < 0.5, above, outside) & (draw[0] < probability)
    return tf.where(hidden[:, :, None], 0.5, image)


def eval_view(images, spec):
    """Resized [N, h, w, c] uint8 images -> the deterministic float view the network sees."""
    images = tf.image.convert_image_dtype(images, tf.float32)
    (in_h, in_w), (crop_h, crop_w) = spec.input_size, spec.crop_size
    if (in_h, in_w) != (crop_h, crop_w):
        if spec.eval_crop == 'resize':
            images = tf.image.resize(images, spec.crop_size, antialias=True)
        else:
            top, left = (in_h - crop_h) // 2, (in_w - crop_w) // 2
            images = images[:, top:top + crop_h, left:left + crop_w, :]
    return normalize(images)


def eval_pipeline(images, spec):
    """[N, H, W, 3] uint8 RGB of any size -> network input, for eval, predict and export."""
    return eval_view(resize_for_network(images, spec), spec)
