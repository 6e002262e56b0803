"""MTCNN without TensorFlow: the `mtcnn` package's three stages as TFLite files, run by
LiteRT, with the package's own steps between them (pyramid, proposals, NMS, patches,
box and landmark regression) redone in numpy and OpenCV.

    stages = LiteStages(folder)                  # pnet/rnet/onet.tflite (data.mtcnn_convert)
    rows = stages.detect(rgb)                    # [N, 15]: x1, y1, x2, y2, confidence, 5 x, 5 y
    rows = stages.onet(rgb, [[x1, y1, x2, y2]], threshold=0.5)

The steps follow mtcnn 1.0.0 (pinned) one for one, with its defaults, so that the faces
found, refined and aligned are those of the TensorFlow path (tests/test_lite.py holds
the two to the same boxes and landmarks; docs/measurements.md has their agreement on
FairFace). Its pyramid's AREA resize is OpenCV's INTER_AREA (the same average over the
same pixels), its patches TensorFlow's crop_and_resize written out.
"""
import hashlib
import importlib.util
import os

import cv2
import numpy as np

from common import tflite

STAGES = ('pnet', 'rnet', 'onet')
WEIGHTS = tuple(f'{stage}.lz4' for stage in STAGES)     # inside the mtcnn package
MIN_FACE, MIN_SIZE, SCALE_FACTOR = 20, 12, 0.709         # mtcnn's detect_faces defaults
THRESHOLDS = (0.6, 0.7, 0.8)
PNET_NMS = (0.5, 0.7)                                    # per scale, then across scales
RNET_NMS, ONET_NMS = 0.7, 0.7


def package_weights():
    """The paths of the mtcnn package's weight files, found without importing it (its
    __init__ imports TensorFlow)."""
    spec = importlib.util.find_spec('mtcnn')
    if spec is None:
        raise FileNotFoundError('the mtcnn package is not installed (pip install -r '
                                'requirements.txt)')
    folder = os.path.join(spec.submodule_search_locations[0], 'assets', 'weights')
    return [os.path.join(folder, name) for name in WEIGHTS]


def weights_checksum():
    """sha256 over the package's three weight files: the TFLite stages record the one they
    were made from, so that a changed package is noticed."""
    digest = hashlib.sha256()
    for path in package_weights():
        with open(path, 'rb') as f:
            digest.update(f.read())
    return digest.hexdigest()


class LiteStages:
    """P-Net, R-Net and O-Net from `folder`/{pnet,rnet,onet}.tflite."""

    def __init__(self, folder, threads=None):
        self.nets = {stage: _Net(os.path.join(folder, f'{stage}.tflite'), threads)
                     for stage in STAGES}

    def detect(self, rgb):
        """mtcnn's detect_faces(rgb) as rows [N, 15] in the photo's pixels, unrounded."""
        image = normalized(rgb)
        rows = self.proposals(image)
        if len(rows):
            rows = self.refined(image, rows)
        if len(rows):
            rows = self._onet(image, rows, THRESHOLDS[2])
        return fitted(rows, rgb.shape)

    def onet(self, rgb, boxes, threshold):
        """O-Net alone on square boxes [[x1, y1, x2, y2]]: rows as `detect` gives them."""
        rows = np.array([[0, *box, 1.0] for box in boxes], dtype=np.float64)
        return self._onet(normalized(rgb), rows, threshold)

    def proposals(self, image):
        """P-Net over the pyramid: rows [image, x1, y1, x2, y2, score], squared."""
        height, width = image.shape[:2]
        found = []
        for scale in pyramid(width, height):
            size = (int(width * scale), int(height * scale))
            scaled = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            offsets, scores = self.nets['pnet'].run(scaled[None], (4, 2))
            rows = candidate_boxes(offsets[0], scores[0], THRESHOLDS[0])
            rows[:, 1:5] /= scale
            found.append(nms(rows, PNET_NMS[0], 'union', sort=False))
        rows = np.concatenate(found) if found else np.empty((0, 6))
        return squared(nms(rows, PNET_NMS[1], 'union'))

    def refined(self, image, rows):
        offsets, scores = self.nets['rnet'].run(patches(image, rows, 24), (4, 2))
        rows = regressed(rows, scores, offsets)
        rows = rows[rows[:, -1] > THRESHOLDS[1]]
        return squared(nms(rows, RNET_NMS, 'union'))

    def _onet(self, image, rows, threshold):
        offsets, marks, scores = self.nets['onet'].run(patches(image, rows, 48), (4, 10, 2))
        width = rows[:, 3:4] - rows[:, 1:2] + 1
        height = rows[:, 4:5] - rows[:, 2:3] + 1
        marks = np.concatenate([width * marks[:, :5] + rows[:, 1:2] - 1,
                                height * marks[:, 5:] + rows[:, 2:3] - 1], axis=1)
        rows = np.concatenate([regressed(rows, scores, offsets), marks], axis=1)
        rows = rows[rows[:, 5] > threshold]
        return nms(rows, ONET_NMS, 'min')[:, 1:]


class _Net(tflite.Model):
    """One stage: its outputs told apart by their last dimension (the converter does not
    keep Keras's order)."""

    def __init__(self, path, threads):
        super().__init__(path, threads)
        self.widths = [int(d['shape'][-1]) for d in self.interpreter.get_output_details()]

    def run(self, batch, widths):
        outputs = dict(zip(self.widths, super().run(batch)))
        return [outputs[w].astype(np.float64) for w in widths]


def normalized(rgb):
    return ((rgb.astype(np.float32) - 127.5) / 128).astype(np.float32)


def pyramid(width, height):
    """mtcnn's scales: faces of MIN_FACE px made P-Net's 12, shrinking by SCALE_FACTOR
    while the photo's short side stays above 12 px."""
    count = round(-((np.log(min(width, height) / MIN_SIZE) / np.log(SCALE_FACTOR)) + 1))
    return (MIN_SIZE / MIN_FACE) * SCALE_FACTOR ** np.arange(max(count, 0))


def candidate_boxes(offsets, scores, threshold, stride=2, cell=12):
    """P-Net's map of one scale -> rows [0, x1, y1, x2, y2, score], best first."""
    ys, xs = np.where(scores[:, :, 1] > threshold)
    reg = offsets[ys, xs].T
    x1, y1 = xs * stride + 1, ys * stride + 1
    x2, y2 = xs * stride + cell, ys * stride + cell
    side = cell - 1
    rows = np.stack([np.zeros(len(xs)), x1 + reg[0] * side, y1 + reg[1] * side,
                     x2 + reg[2] * side, y2 + reg[3] * side, scores[ys, xs, 1]], axis=1)
    return rows[np.argsort(rows[:, -1])[::-1]]


def nms(rows, threshold, method, sort=True):
    """mtcnn's suppression: a box goes when any box ranked above it (kept or not) overlaps
    it by more than `threshold` (intersection over union, or over the smaller)."""
    if sort:
        rows = rows[np.argsort(rows[:, 5])[::-1]]
    if not len(rows):
        return rows
    x1, y1, x2, y2 = rows[:, 1], rows[:, 2], rows[:, 3], rows[:, 4]
    area = (x2 - x1) * (y2 - y1)
    inter = (np.maximum(0, np.minimum(x2[None], x2[:, None]) - np.maximum(x1[None], x1[:, None]))
             * np.maximum(0, np.minimum(y2[None], y2[:, None]) - np.maximum(y1[None], y1[:, None])))
    if method == 'union':
        overlap = inter / (area[:, None] + area[None, :] - inter)
    else:
        overlap = inter / np.minimum(area[:, None], area[None, :])
    above = np.triu(np.ones_like(overlap), k=1)
    return rows[((overlap > threshold) * above).sum(axis=0) == 0]


def squared(rows):
    rows = rows.copy()
    width, height = rows[:, 3] - rows[:, 1], rows[:, 4] - rows[:, 2]
    side = np.maximum(width, height)
    rows[:, 1] += width * 0.5 - side * 0.5
    rows[:, 2] += height * 0.5 - side * 0.5
    rows[:, 3], rows[:, 4] = rows[:, 1] + side, rows[:, 2] + side
    return rows


def regressed(rows, scores, offsets):
    """The stage's score in place of the last, its offsets applied (in box sizes + 1)."""
    rows = rows.copy()
    rows[:, 5] = scores[:, -1]
    width, height = rows[:, 3] - rows[:, 1] + 1, rows[:, 4] - rows[:, 2] + 1
    rows[:, 1:5] += offsets * np.stack([width, height, width, height], axis=-1)
    return rows


def patches(image, rows, size):
    """TensorFlow's crop_and_resize (bilinear, 0 outside the image) of each row's box,
    given as mtcnn gives it: corners divided by the width and height, not by them - 1."""
    height, width = image.shape[:2]
    y1, x1 = rows[:, 2] / height * (height - 1), rows[:, 1] / width * (width - 1)
    y2, x2 = rows[:, 4] / height * (height - 1), rows[:, 3] / width * (width - 1)
    steps = np.arange(size) / (size - 1)
    ys = y1[:, None] + (y2 - y1)[:, None] * steps          # [N, size]
    xs = x1[:, None] + (x2 - x1)[:, None] * steps
    top, left = np.floor(ys), np.floor(xs)
    dy, dx = (ys - top)[:, :, None, None], (xs - left)[:, None, :, None]
    t, b = np.clip(top, 0, height - 1).astype(int), np.clip(np.ceil(ys), 0, height - 1).astype(int)
    lt, r = np.clip(left, 0, width - 1).astype(int), np.clip(np.ceil(xs), 0, width - 1).astype(int)

    def at(rows_, cols_):
        return image[rows_[:, :, None], cols_[:, None, :]].astype(np.float64)

    upper = at(t, lt) + (at(t, r) - at(t, lt)) * dx
    lower = at(b, lt) + (at(b, r) - at(b, lt)) * dx
    out = upper + (lower - upper) * dy
    inside = (((ys >= 0) & (ys <= height - 1))[:, :, None]
              & ((xs >= 0) & (xs <= width - 1))[:, None, :])
    return np.where(inside[..., None], out, 0.0)


def fitted(rows, shape):
    """Boxes inside the photo (mtcnn's fit_to_image; the landmarks are left as found)."""
    rows = rows.copy()
    height, width = shape[:2]
    rows[:, [0, 2]] = np.clip(rows[:, [0, 2]], 0, width - 1)
    rows[:, [1, 3]] = np.clip(rows[:, [1, 3]], 0, height - 1)
    return rows
