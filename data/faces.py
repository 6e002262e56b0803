"""Faces in ordinary photos: detection with 5 landmarks, a pose estimate, alignment.

    for face in faces.find(rgb, smallest=48):    # MTCNN's faces of 48 px and up
        pose = faces.estimate_pose(face)         # roll, yaw, pitch in degrees
        crop = faces.aligned(rgb, face)          # eyes level, framed like a UTKFace chip

`find` then `aligned` is the one way a photo becomes a face: preparation (which judges the
found faces in between), predict, features and the demo all call them, so a model answers
photos with faces made as its training faces were.

Alignment frames every face the way the UTKFace chips are framed (measured with
the same detector on 299 chips: eye midpoint at 49% across and 29% down, the
mouth 39.5% of the height below the eyes), so a model trained on those chips
sees photos the way it saw its training faces.
"""
import dataclasses
import functools
import math

import cv2
import numpy as np

# Where the landmarks sit in a UTKFace chip, as fractions of its side (see above).
TEMPLATE_EYE_MID = (0.49, 0.29)
TEMPLATE_EYE_TO_MOUTH = 0.395
# Nose tip between the eye line (0) and the mouth line (1) in a frontal face, on the same chips.
FRONTAL_NOSE_FRACTION = 0.57
DETECTABLE_FACE = 20       # px: the smallest face MTCNN finds in the image it is given
DETECT_MAX_SIDE = 2048     # bounds the copy detected, whatever the photo and face size
FACE_SIZE = 100            # px: the side of an aligned face, stored and answered
SMALLEST_FACE = 48         # px: faces looked for by default (smaller ones would be
                           # blown up over 2x into a FACE_SIZE network input)
ONET_LANDMARKS = ('left_eye', 'right_eye', 'nose', 'mouth_left', 'mouth_right')   # mtcnn's order


@dataclasses.dataclass
class Face:
    box: tuple                 # (x, y, width, height) in the photo's pixels
    confidence: float
    landmarks: dict            # left_eye, right_eye, nose, mouth_left, mouth_right: (x, y)

    @property
    def short_side(self):
        return min(self.box[2], self.box[3])


class MtcnnDetector:
    """MTCNN (PyPI `mtcnn`, weights inside the package), on a copy of the photo scaled so
    that the smallest face asked for is just detectable: a search for faces of 100 px
    and up looks at a fifth of the pixels in each direction. Its cost follows the
    faces wanted, not the camera's resolution.

    When it finds nothing it looks again at half that scale, then with a border
    around the photo: faces that fill the frame are missed at one scale and
    found at another. Then the same again in grey: coloured stage light hides a
    face from MTCNN's skin colours (docs/measurements.md, "Face detection").

    The stages run in TensorFlow here, on LiteRT in LiteDetector: the same steps.
    """
    ATTEMPTS = ((1.0, 0.0), (0.5, 0.0), (1.0, 0.25))     # (share of the scale, border)

    # Input shapes of P-Net (any size: one per pyramid scale), R-Net and O-Net (patches).
    STAGE_INPUTS = ((None, None, None, 3), (None, 24, 24, 3), (None, 48, 48, 3))

    def __init__(self, compiled=True):
        import tensorflow as tf
        from mtcnn import MTCNN
        self._mtcnn = MTCNN()
        if compiled:
            # mtcnn calls its Keras stages eagerly, layer by layer, so Python costs as
            # much as the arithmetic; as tf.functions with one shape-free signature each
            # (traced once, whatever the pyramid) they give the same boxes in half the
            # time. `_model` is mtcnn 1.0.0's (pinned); a test checks it.
            for stage, shape in zip(self._mtcnn.stages, self.STAGE_INPUTS):
                stage._model = tf.function(stage._model,
                                           input_signature=[tf.TensorSpec(shape, tf.float32)])

    def found(self, rgb):
        """mtcnn's own answer for the photo as given: [{'box': [x, y, w, h], 'confidence',
        'keypoints': {name: [x, y]}}], whole pixels."""
        return self._mtcnn.detect_faces(rgb)

    def onet_row(self, rgb, box):
        """O-Net alone on the square `box` (x, y, side): its row (x1, y1, x2, y2,
        confidence, 5 landmark x, 5 landmark y), unrounded; None when it sees no face."""
        from mtcnn.utils.images import load_images_batch, standarize_batch
        x, y, side = box
        images, _, _ = standarize_batch(load_images_batch([rgb]), normalize=True)
        rows = np.array([[0, x, y, x + side, y + side, 1.0]], dtype=np.float64)
        onet = self._mtcnn.get_stage(stage_id=3)
        out = onet(images_normalized=images, bboxes_batch=rows, threshold_onet=0.5)
        return np.asarray(out[0], dtype=np.float64)[1:] if len(out) else None

    def detect(self, rgb, min_face=SMALLEST_FACE):
        """Faces of about `min_face` px (short side) and larger in an [H, W, 3] uint8 RGB
        photo, most confident first. min_face=DETECTABLE_FACE looks at full resolution."""
        found = self.detect_as_is(rgb, min_face)
        if not found:               # the grey copy is made only when colour finds nothing
            grey = cv2.cvtColor(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
            found = self.detect_as_is(grey, min_face)
        return found

    def detect_as_is(self, rgb, min_face=SMALLEST_FACE):
        """`detect` without the grey second look: each of ATTEMPTS until one finds faces."""
        scale = min(1.0, DETECTABLE_FACE / min_face, DETECT_MAX_SIDE / max(rgb.shape[:2]))
        for share, pad in self.ATTEMPTS:
            found = self._detect(rgb, scale * share, pad)
            if found:
                return found
        return []

    def landmarks_in_box(self, rgb, box):
        """The 5 landmarks of the face in the square `box` (x, y, side) of `rgb`, from
        MTCNN's last stage (O-Net) alone: a few ms, against a full detection's hundreds.
        Returns a Face, or None when O-Net sees no face there."""
        row = self.onet_row(rgb, box)
        if row is None:
            return None
        # mtcnn's own JSON output rounds the landmarks to whole pixels; these are not.
        marks = {name: (row[5 + i], row[10 + i]) for i, name in enumerate(ONET_LANDMARKS)}
        return Face((row[0], row[1], row[2] - row[0], row[3] - row[1]), float(row[4]), marks)

    def _detect(self, rgb, scale, pad):
        height, width = rgb.shape[:2]
        top, left = round(height * pad), round(width * pad)
        if pad:
            rgb = cv2.copyMakeBorder(rgb, top, top, left, left, cv2.BORDER_CONSTANT, value=0)
        small = rgb if scale == 1.0 else cv2.resize(
            rgb, (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale))),
            interpolation=cv2.INTER_AREA)
        found = []
        for r in self.found(small):
            x, y, w, h = r['box']
            box = (x / scale - left, y / scale - top, w / scale, h / scale)
            marks = {k: (v[0] / scale - left, v[1] / scale - top) for k, v in r['keypoints'].items()}
            found.append(Face(box, float(r['confidence']), marks))
        return sorted(found, key=lambda f: -f.confidence)


class LiteDetector(MtcnnDetector):
    """The same detector with its stages on LiteRT (data/mtcnn_lite.py): no TensorFlow."""

    def __init__(self, folder):     # pylint: disable=super-init-not-called
        from data import mtcnn_lite
        self._stages = mtcnn_lite.LiteStages(folder)

    def found(self, rgb):
        rows = self._stages.detect(rgb)
        return [{'box': [round(r[0]), round(r[1]), round(r[2] - r[0]), round(r[3] - r[1])],
                 'confidence': float(r[4]),
                 'keypoints': {name: [round(r[5 + i]), round(r[10 + i])]
                               for i, name in enumerate(ONET_LANDMARKS)}} for r in rows]

    def onet_row(self, rgb, box):
        x, y, side = box
        rows = self._stages.onet(rgb, [(x, y, x + side, y + side)], threshold=0.5)
        return rows[0] if len(rows) else None


@functools.lru_cache(maxsize=1)
def get_detector():
    """One detector per process (loading MTCNN takes seconds)."""
    return MtcnnDetector()


@functools.lru_cache(maxsize=1)
def fast_detector():
    """The same detector on LiteRT, its stages converted once into the user's cache
    (mtcnn_convert.cached_stages): the same faces at about a third of the time; the
    TensorFlow one where the cache cannot be written."""
    from data import mtcnn_convert
    try:
        return LiteDetector(mtcnn_convert.cached_stages())
    except OSError:
        return get_detector()


def _eyes_mouth(face):
    m = {k: np.asarray(v, dtype=np.float64) for k, v in face.landmarks.items()}
    mouth = (m['mouth_left'] + m['mouth_right']) / 2
    # MTCNN names the eyes by image side; order them so that the mouth lies below the eye
    # line running from `left` to `right` (x right, y down): a face upside down in the
    # photo is then turned by 180 degrees, not levelled upside down.
    left, right = m['left_eye'], m['right_eye']
    d, to_mouth = right - left, mouth - (left + right) / 2
    if d[0] * to_mouth[1] - d[1] * to_mouth[0] < 0:
        left, right = right, left
    return left, right, m['nose'], mouth


def estimate_pose(face):
    """(roll, yaw, pitch) in degrees from the 5 landmarks, with a generic face geometry.

    roll: angle of the eye line. yaw: the nose tip's sideways offset from the
    eye midpoint (it sits about half an eye distance in front of the eyes).
    pitch: the nose tip's height between the eye and mouth lines, against its
    place in a frontal face. Rough (a few degrees), enough to keep frontal faces.
    """
    left, right, nose, mouth = _eyes_mouth(face)
    dx, dy = right - left
    roll = math.degrees(math.atan2(dy, dx))
    # Undo the roll, then measure in the face's own axes.
    c, s = math.cos(-math.radians(roll)), math.sin(-math.radians(roll))
    rot = np.array([[c, -s], [s, c]])
    eye_mid = (left + right) / 2
    n = rot @ (nose - eye_mid)
    mo = rot @ (mouth - eye_mid)
    eye_dist = max(math.hypot(dx, dy), 1e-6)
    yaw = math.degrees(math.atan(2.0 * n[0] / eye_dist))
    fraction = n[1] / mo[1] if mo[1] > 1e-6 else FRONTAL_NOSE_FRACTION
    pitch = (FRONTAL_NOSE_FRACTION - fraction) * 151.0   # degrees per unit near frontal
    return roll, yaw, pitch


def alignment_matrix(face, size, margin=0.0):
    """2x3 affine map from the photo to a size x size crop: eyes level, UTKFace framing.

    margin widens the crop by that share of its side on every side (0 = UTKFace's).
    """
    left, right, _, mouth = _eyes_mouth(face)
    eye_mid = (left + right) / 2
    angle = math.degrees(math.atan2(*(right - left)[::-1]))
    # Distance from the eye line to the mouth, measured square to the eye line.
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    eye_to_mouth = abs(-s * (mouth - eye_mid)[0] + c * (mouth - eye_mid)[1])
    eye_to_mouth = max(eye_to_mouth, 1.0)
    # The UTKFace-framed square, shrunk so that `margin` of it shows on every side.
    framed = size / (1 + 2 * margin)
    scale = TEMPLATE_EYE_TO_MOUTH * framed / eye_to_mouth
    matrix = cv2.getRotationMatrix2D((float(eye_mid[0]), float(eye_mid[1])), angle, scale)
    target = (np.array(TEMPLATE_EYE_MID) + margin) * framed
    matrix[:, 2] += target - eye_mid
    return matrix


def align(rgb, face, size=FACE_SIZE, margin=0.0):
    """The aligned [size, size, 3] uint8 crop of `face`; colour kept."""
    matrix = alignment_matrix(face, size, margin)
    scale = math.hypot(matrix[0, 0], matrix[0, 1])
    if scale < 0.5:
        # Shrink first with area averaging: warpAffine alone would alias a big photo.
        pre = min(1.0, 2 * scale)
        rgb = cv2.resize(rgb, (max(1, round(rgb.shape[1] * pre)), max(1, round(rgb.shape[0] * pre))),
                         interpolation=cv2.INTER_AREA)
        matrix = matrix.copy()
        matrix[:, :2] /= pre
    return cv2.warpAffine(rgb, matrix, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


REFINE_SIZE = 300


def refine(rgb, face, detector, rounds=2):
    """The face with its landmarks found again on an upright crop, mapped back to the
    photo; `rounds` times, each on the crop the previous round made upright.

    MTCNN places landmarks better on upright faces, and on faces seen at full
    resolution (detection looks at a downscaled copy); two rounds level the eyes better
    than one (docs/measurements.md, "Alignment").
    Only the landmark stage (O-Net) runs again, twice per round: on the face's box
    carried into the crop, then on O-Net's own tighter box; about 10x cheaper than
    detecting the crop afresh, which a detector without `landmarks_in_box` does.
    """
    if hasattr(detector, 'landmarks_in_box'):
        face = upright(rgb, face, detector)
    for _ in range(rounds):
        face = _refine_once(rgb, face, detector)
    return face


def upright(rgb, face, detector):
    """The face with landmarks that know which way is up. On a face upside down in the
    photo MTCNN finds an upright face's landmarks (its 'eyes' on the mouth): O-Net, asked
    again on the crop those landmarks make and on that crop turned by 180 degrees, is
    surer of the turned one, and its landmarks there are the face's own."""
    matrix = alignment_matrix(face, REFINE_SIZE)
    crop = cv2.warpAffine(rgb, matrix, (REFINE_SIZE, REFINE_SIZE), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    box = (REFINE_SIZE * 0.1, REFINE_SIZE * 0.1, REFINE_SIZE * 0.8)
    as_is = detector.landmarks_in_box(crop, box)
    turned = detector.landmarks_in_box(np.ascontiguousarray(crop[::-1, ::-1]), box)
    if turned is None or (as_is is not None and as_is.confidence >= turned.confidence):
        return face
    inverse = cv2.invertAffineTransform(matrix)
    last = REFINE_SIZE - 1
    marks = {k: tuple(float(v) for v in inverse @ np.array([last - x, last - y, 1.0]))
             for k, (x, y) in turned.landmarks.items()}
    return Face(face.box, face.confidence, marks)


def _refine_once(rgb, face, detector):
    matrix = alignment_matrix(face, REFINE_SIZE)
    crop = cv2.warpAffine(rgb, matrix, (REFINE_SIZE, REFINE_SIZE), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    again = None
    if hasattr(detector, 'landmarks_in_box'):
        x, y, w, h = face.box
        cx, cy = matrix @ np.array([x + w / 2, y + h / 2, 1.0])
        side = max(w, h) * math.hypot(matrix[0, 0], matrix[0, 1])
        again = detector.landmarks_in_box(crop, (cx - side / 2, cy - side / 2, side))
        if again is not None:
            # Once more on O-Net's own, tighter box: the landmarks follow the box's quality.
            again = detector.landmarks_in_box(crop, square_around(again.box)) or again
    else:
        found = detector.detect(crop)
        centre = REFINE_SIZE / 2
        again = min(found, default=None, key=lambda f: math.hypot(
            f.box[0] + f.box[2] / 2 - centre, f.box[1] + f.box[3] / 2 - centre))
    if again is None:
        return face
    inverse = cv2.invertAffineTransform(matrix)
    marks = {k: tuple(float(v) for v in inverse @ np.array([x, y, 1.0]))
             for k, (x, y) in again.landmarks.items()}
    return Face(face.box, face.confidence, marks)


def square_around(box):
    """(x, y, side): the square with the centre of the (x, y, width, height) box and its
    longer side, as `landmarks_in_box` takes it."""
    x, y, w, h = box
    side = max(w, h)
    return x + w / 2 - side / 2, y + h / 2 - side / 2, side


def find(rgb, smallest=SMALLEST_FACE, detector=None):
    """The faces of at least `smallest` px that MTCNN finds in a photo (the process's
    TensorFlow detector unless another is given)."""
    return (detector or get_detector()).detect(rgb, min_face=smallest)


def aligned(rgb, face, size=FACE_SIZE, margin=0.0, detector=None):
    """A found face as training stores it and predict answers it: its landmarks found again
    on an upright crop of the photo (refine), then aligned at `size` px."""
    return align(rgb, refine(rgb, face, detector or get_detector()), size, margin)
