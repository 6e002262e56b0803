"""Safe decoding: every awkward file is accepted or refused with a one-line reason."""
import os

import numpy as np
import pytest
from PIL import Image

from conftest import BAD_INPUTS, manifest
from data.images import BadImage, load_rgb, reencode

# Rows of MANIFEST.tsv that need a face detector to judge (the faces issue); decoding
# alone must accept them without a crash.
FACE_LEVEL = {'no_face.jpg', 'two_faces.jpg', 'upside_down.jpg'}


def expected_outcome(action):
    return 'accept' if action.startswith('accept') else 'skip'


# Without ../shared one case remains, and manifest() skips it with the reason.
NAMES = sorted(manifest()) if os.path.isdir(BAD_INPUTS) else ['MANIFEST.tsv']


@pytest.mark.parametrize('name', NAMES)
def test_bad_inputs_are_decoded_as_the_manifest_says(name):
    action = manifest()[name]
    path = os.path.join(BAD_INPUTS, name)
    want = 'accept' if name in FACE_LEVEL else expected_outcome(action)
    try:
        rgb = load_rgb(path)
        got = 'accept'
    except BadImage as e:
        got, reason = 'skip', str(e)
        assert reason and '\n' not in reason and len(reason) < 200
    assert got == want, f'{name}: manifest says {action!r}'
    if got == 'accept':
        assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3


def test_exif_orientation_is_applied(tmp_path):
    # A 40x20 landscape image stored with orientation 6 (rotate 90° clockwise to view).
    image = Image.new('RGB', (40, 20), (200, 10, 10))
    exif = image.getexif()
    exif[0x0112] = 6
    path = tmp_path / 'sideways.jpg'
    image.save(path, exif=exif)
    assert load_rgb(str(path)).shape == (40, 20, 3)


def test_sixteen_bit_grayscale_keeps_its_range(tmp_path):
    ramp = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    path = tmp_path / 'ramp16.png'
    Image.fromarray(ramp).save(path)
    rgb = load_rgb(str(path))
    assert rgb.min() == 0 and rgb.max() == 255          # not clipped to white
    assert 100 < rgb.mean() < 155


def test_float_images_in_the_unit_range_are_not_black(tmp_path):
    ramp = np.linspace(0, 1, 64 * 64).reshape(64, 64).astype(np.float32)
    path = tmp_path / 'ramp.tiff'
    Image.fromarray(ramp, mode='F').save(path)
    rgb = load_rgb(str(path))
    assert rgb.min() == 0 and rgb.max() == 255 and 100 < rgb.mean() < 155


@pytest.mark.parametrize('extension', ['heic', 'avif'])
def test_phone_formats_are_read(tmp_path, extension):
    colour = (200, 120, 40)
    path = tmp_path / f'IMG_0001.{extension}'
    Image.new('RGB', (64, 48), colour).save(path)
    rgb = load_rgb(str(path))
    assert rgb.shape == (48, 64, 3)
    assert np.abs(rgb.reshape(-1, 3).mean(0) - colour).max() < 8     # lossy, but these pixels


def test_transparent_pixels_become_white(tmp_path):
    rgba = np.zeros((32, 32, 4), np.uint8)
    path = tmp_path / 'clear.png'
    Image.fromarray(rgba).save(path)
    assert load_rgb(str(path)).min() == 255


@pytest.mark.parametrize('content, reason', [
    (b'', 'empty file'),
    (b'hello, I am not a picture\n', 'text file'),
    (b'<!DOCTYPE html><html><body>404</body></html>', 'HTML page'),
    (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', 'SVG drawing'),
    (b'%PDF-1.4\n%\xe2\xe3\xcf\xd3\n', 'PDF document'),
    # A box-structured binary (as a damaged HEIC starts) is valid UTF-8, yet not text.
    (b'\0\0\0\x18ftypheic' + bytes(100), 'not a recognised image format'),
], ids=['empty', 'text', 'html', 'svg', 'pdf', 'binary'])
def test_non_images_are_refused_with_a_reason(tmp_path, content, reason):
    path = tmp_path / 'photo.jpg'
    path.write_bytes(content)
    with pytest.raises(BadImage, match=reason):
        load_rgb(str(path))
    assert isinstance(reencode(str(path)), str)


def test_reencode_shrinks_large_images(tmp_path):
    path = tmp_path / 'big.png'
    Image.new('RGB', (1000, 600), (1, 2, 3)).save(path)
    encoded, height, width = reencode(str(path), max_side=200)
    assert (height, width) == (120, 200) and encoded[:2] == b'\xff\xd8'
