"""Face geometry on synthetic landmarks, the filter's reasons, and duplicate finding."""
import io
import math

import cv2
import numpy as np
import pytest
from PIL import Image

from data import faces
from data.prepare import FaceSettings, judge, near_duplicates

FRONTAL = {'left_eye': (80.0, 100.0), 'right_eye': (120.0, 100.0), 'nose': (100.0, 122.0),
           'mouth_left': (84.0, 140.0), 'mouth_right': (116.0, 140.0)}


def face_with(marks, box=(50, 60, 110, 130), confidence=0.99):
    return faces.Face(box, confidence, marks)


def rotated(marks, degrees, centre=(100.0, 110.0)):
    a = math.radians(degrees)
    out = {}
    for k, (x, y) in marks.items():
        dx, dy = x - centre[0], y - centre[1]
        out[k] = (centre[0] + dx * math.cos(a) - dy * math.sin(a),
                  centre[1] + dx * math.sin(a) + dy * math.cos(a))
    return out


@pytest.mark.parametrize('degrees', [-30, -7, 0, 12, 40])
def test_alignment_levels_the_eyes_and_frames_like_utkface(degrees):
    face = face_with(rotated(FRONTAL, degrees))
    matrix = faces.alignment_matrix(face, size=100)
    mapped = {k: matrix @ np.array([x, y, 1.0]) for k, (x, y) in face.landmarks.items()}
    left, right = mapped['left_eye'], mapped['right_eye']
    assert abs(left[1] - right[1]) < 1e-6                        # level
    eye_mid = (left + right) / 2
    np.testing.assert_allclose(eye_mid / 100, faces.TEMPLATE_EYE_MID, atol=1e-6)
    mouth = (mapped['mouth_left'] + mapped['mouth_right']) / 2
    assert mouth[1] - eye_mid[1] == pytest.approx(faces.TEMPLATE_EYE_TO_MOUTH * 100)


def test_a_margin_shrinks_the_face_inside_the_crop():
    face = face_with(FRONTAL)
    tight = faces.alignment_matrix(face, 100, margin=0.0)
    loose = faces.alignment_matrix(face, 100, margin=0.25)
    assert math.hypot(*loose[0, :2]) == pytest.approx(math.hypot(*tight[0, :2]) / 1.5)


def test_pose_of_a_frontal_face_and_of_turned_ones():
    roll, yaw, pitch = faces.estimate_pose(face_with(FRONTAL))
    assert abs(roll) < 1e-6 and abs(yaw) < 1e-6 and abs(pitch) < 10
    roll, _, _ = faces.estimate_pose(face_with(rotated(FRONTAL, 15)))
    assert roll == pytest.approx(15, abs=1e-6)
    turned = dict(FRONTAL, nose=(110.0, 122.0))                 # nose towards the right eye
    assert faces.estimate_pose(face_with(turned))[1] > 20


def test_align_keeps_colour_and_size():
    rgb = np.zeros((300, 300, 3), np.uint8)
    rgb[..., 0] = 200
    crop = faces.align(rgb, face_with(FRONTAL), size=64)
    assert crop.shape == (64, 64, 3) and crop[..., 0].mean() > 150 and crop[..., 2].max() == 0


def test_the_filter_names_its_reason_and_values():
    settings = FaceSettings(filters='strict')         # the 2017 post's limits
    assert judge([], settings)[1] == 'no face found'
    big = (0, 0, 150, 180)
    face, reason, values = judge([face_with(FRONTAL, box=big)], settings)
    assert face is not None and reason == '' and values['face_px'] == 150
    _, reason, values = judge([face_with(rotated(FRONTAL, 9), box=big)], settings)
    assert reason.startswith('roll 9.0') and values['roll'] == 9.0
    # Aligned faces (the default filters): roll is corrected, so it rejects nothing.
    face, reason, _ = judge([face_with(rotated(FRONTAL, 40), box=big)], FaceSettings())
    assert face is not None and reason == ''
    assert FaceSettings(max_roll=20).max_roll == 20 and FaceSettings(max_roll=20).max_yaw == 60
    _, reason, _ = judge([face_with(FRONTAL, box=(0, 0, 60, 70))], settings)
    assert reason.startswith('face too small')
    _, reason, _ = judge([face_with(FRONTAL, box=big, confidence=0.5)], settings)
    assert reason.startswith('low detector confidence')
    two = [face_with(FRONTAL, box=(200, 0, 120, 150)), face_with(FRONTAL, box=big)]
    assert judge(two, FaceSettings(multi_face='skip'))[1] == '2 faces (one per photo wanted)'
    face, reason, values = judge(two, FaceSettings(multi_face='largest'))
    assert face.box == big and reason == '' and values['boxes'][0] == list(big)
    # The subject rule (the default): 150 px against 120 is no clear subject; against 60 it is.
    _, reason, values = judge(two, FaceSettings())
    assert reason.startswith('2 faces, none clearly the subject') and values['margin'] == 1.25
    face, reason, values = judge([two[1], face_with(FRONTAL, box=(300, 0, 60, 70))],
                                 FaceSettings())
    assert face.box == big and reason == '' and values['margin'] == 2.5


def _phash(image):
    import imagehash
    return str(imagehash.phash(image))


def test_near_duplicates_are_found_and_different_faces_are_not(tmp_path):
    rng = np.random.default_rng(1)
    base = cv2.GaussianBlur(rng.integers(0, 255, (100, 100, 3), dtype=np.uint8), (9, 9), 3)
    other = cv2.GaussianBlur(rng.integers(0, 255, (100, 100, 3), dtype=np.uint8), (9, 9), 3)
    original = Image.fromarray(base)
    buffer = io.BytesIO()
    original.save(buffer, format='JPEG', quality=40)
    variants = [original,                                           # a copy
                Image.open(io.BytesIO(buffer.getvalue())),          # re-encoded at quality 40
                original.resize((70, 70)).resize((100, 100)),       # resized
                Image.fromarray(other)]                             # another picture
    pairs = near_duplicates([_phash(v) for v in variants], max_bits=4)
    linked = {(i, j) for i, j, _ in pairs}
    assert {(0, 1), (0, 2), (1, 2)} <= linked
    assert not any(3 in pair for pair in linked)


def stage_lit(rgb):
    """Red light from the left, blue from the right, almost no green: a concert photo."""
    luminance = rgb.astype(float).mean(-1)
    ramp = np.linspace(1, 0, rgb.shape[1])[None, :]
    lit = np.stack([luminance * (0.3 + 1.2 * ramp), luminance * 0.15,
                    luminance * (0.3 + 1.2 * (1 - ramp))], -1)
    return np.clip(lit, 0, 255).astype(np.uint8)


def test_a_face_in_coloured_stage_light_is_found_in_grey():
    import os
    from conftest import UTKFACE, need_shared
    need_shared(UTKFACE)
    chip = np.array(Image.open(os.path.join(UTKFACE, '101_0_0_20170112213500903.jpg.chip.jpg'))
                    .convert('RGB'))
    detector = faces.get_detector()
    assert detector.detect(chip)
    lit = stage_lit(chip)
    assert not detector.detect_as_is(lit)                 # colour alone misses it
    found = detector.detect(lit)
    assert found and found[0].box[2] > chip.shape[1] / 3
