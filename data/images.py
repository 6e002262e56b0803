"""Safe image decoding: any file in, an upright RGB uint8 array or a one-line reason out.

Everything that reads a user's photo goes through `load_rgb`, so training data,
evaluation and prediction see the same pixels.

    from data.images import load_rgb, BadImage
    try:
        rgb = load_rgb('photo.jpg')
    except BadImage as e:
        print(f'skip photo.jpg: {e}')
"""
import errno
import io
import os
import re
import stat
import warnings

import numpy as np
import pillow_heif
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

MAX_MEGAPIXELS = 100     # refuse larger images before decoding them (decompression bombs)
MIN_SIDE = 16            # smaller images cannot hold a usable face

# We check the pixel count ourselves, before decoding, with a clear reason.
Image.MAX_IMAGE_PIXELS = None
# A phone's photos are often HEIC (iPhones save it by default): Pillow reads them through
# pillow-heif. AVIF Pillow reads itself.
pillow_heif.register_heif_opener()


class BadImage(Exception):
    """A file that cannot be used as an image; str(e) is the one-line reason."""


def _sniff(path):
    """A short description of what a non-image file looks like."""
    with open(path, 'rb') as f:
        head = f.read(512)
    text = head.lstrip().lower()
    if text.startswith((b'<!doctype html', b'<html')) or b'<html' in text:
        return 'an HTML page, not an image'
    if b'<svg' in text:
        return 'an SVG drawing: vector images are not read (save it as PNG or JPEG)'
    if head.startswith(b'%PDF'):
        return 'a PDF document, not an image'
    try:
        head.decode('utf-8')
    except UnicodeDecodeError:
        return 'not a recognised image format'
    if b'\0' in head:       # NUL bytes decode as UTF-8 too, but only binary formats hold them
        return 'not a recognised image format'
    return 'a text file, not an image'


def _to_rgb(image):
    """Any PIL mode (L, LA, P, RGBA, CMYK, I;16, I, F, ...) to 8-bit RGB."""
    if image.mode in ('I;16', 'I;16B', 'I;16L', 'I', 'F'):
        # PIL's convert('L') clips 16-bit values at 255; scale by the real range instead.
        array = np.asarray(image, dtype=np.float64)
        # Floats in [0, 1], as science tools write them, are scaled from 1.
        top = (65535.0 if image.mode.startswith('I;16') or array.max() > 255 else
               1.0 if image.mode == 'F' and array.max() <= 1.0 else 255.0)
        gray = np.clip(array / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if image.mode in ('RGBA', 'LA', 'PA') or (image.mode == 'P' and 'transparency' in image.info):
        rgba = image.convert('RGBA')
        white = Image.new('RGBA', rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)   # transparent areas become white
    return np.asarray(image.convert('RGB'), dtype=np.uint8)


def not_a_file(path):
    """Why `path` cannot be read as a photo without waiting on it, or None: a link to
    nothing, a link that loops, a FIFO, a device or a socket is named, never opened."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return ('a link to a file that does not exist' if os.path.islink(path)
                else 'no such file')
    except OSError as e:
        if e.errno == errno.ELOOP:
            return 'a link that loops back on itself'
        return f'cannot read file ({e.strerror})'
    if not stat.S_ISREG(mode):
        return 'not a regular file (a FIFO, a device or a socket): not read'
    if not os.access(path, os.R_OK):
        return 'cannot read file (permission denied)'
    return None


def load_rgb(path, max_megapixels=MAX_MEGAPIXELS, min_side=MIN_SIDE, allow_truncated=False):
    """Decodes `path` to an upright [H, W, 3] uint8 RGB array.

    EXIF orientation is applied; animated images give their first frame.
    Raises BadImage with a one-line reason for anything unusable.
    """
    reason = not_a_file(path)
    if reason:
        raise BadImage(reason)
    try:
        size = os.path.getsize(path)
    except OSError as e:
        raise BadImage(f'cannot read file ({e.strerror})') from None
    if size == 0:
        raise BadImage('empty file (0 bytes)')
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            with Image.open(path) as image:
                width, height = image.size
                if width * height > max_megapixels * 1e6:
                    raise BadImage(f'too large: {width}x{height} pixels '
                                   f'({width * height / 1e6:.0f} MP, limit {max_megapixels} MP); '
                                   'refused before decoding')
                if min(width, height) < min_side:
                    raise BadImage(f'too small: {width}x{height} pixels (minimum side {min_side})')
                image.seek(0)
                ImageFile.LOAD_TRUNCATED_IMAGES = allow_truncated
                image.load()
                upright = ImageOps.exif_transpose(image)
                return _to_rgb(upright)
    except BadImage:
        raise
    except UnidentifiedImageError:
        raise BadImage(_sniff(path)) from None
    except Image.DecompressionBombError as e:
        # Pillow's own limit (a server lowers it for every decoder) came before ours.
        pixels = re.search(r'\((\d+) pixels\)', str(e))
        size = f'{int(pixels.group(1)) / 1e6:.0f} MP' if pixels else 'over Pillow\'s limit'
        raise BadImage(f'too large: {size} (limit {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} MP); '
                       'refused before decoding') from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        message = str(e).strip().rstrip('.') or type(e).__name__
        if 'truncated' in message.lower() or isinstance(e, EOFError):
            raise BadImage(f'truncated or corrupt image ({message})') from None
        raise BadImage(f'cannot decode image ({message})') from None


def reencode(path, max_side=512, quality=95):
    """For dataset writing: (jpeg_bytes, height, width), or BadImage's reason as a str.

    The image is decoded safely, made upright RGB and shrunk so that its longer
    side is at most `max_side`. Runs in worker processes, so it never raises.
    """
    try:
        rgb = load_rgb(path)
    except BadImage as e:
        return str(e)
    image = Image.fromarray(rgb)
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format='JPEG', quality=quality)
    return buffer.getvalue(), image.height, image.width
