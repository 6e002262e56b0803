"""A trained network answering photos: faces found and aligned, each labelled through the
one eval preprocessing. Shared by predict, features and the demo.

    model = answering_model(cfg)                 # TFLite when the model has it, else TensorFlow
    for face in label_faces(rgb, cfg, model.probabilities_of, model.detector):
        print(face.box, face.text)

This module imports no TensorFlow: ImageModel loads it when made, LiteModel never does.
"""
import dataclasses
import os

import numpy as np

from data.images import not_a_file
from data.sources import files_below


def list_images(target):
    """A file, or every non-hidden file below a folder (sorted): images are recognised by
    their content, as preparation does, and anything else gets its line saying why not."""
    if not os.path.isdir(target):
        reason = not_a_file(target)        # a FIFO or a device is named, never opened
        if reason:
            raise FileNotFoundError(f'--image={target}: {reason}')
        return [target]
    found = files_below(target)
    if not found:
        raise FileNotFoundError(f'--image={target} holds no files')
    return found


def answering_model(cfg):
    """The model that answers for cfg: its TFLite files when cfg.backend is 'lite' (config
    chose it: the model carries them), else the checkpoint in TensorFlow."""
    if cfg.backend == 'lite':
        from core.serve.lite_model import LiteModel
        return LiteModel(cfg.train_dir)
    return ImageModel(cfg)


class ImageModel:
    """A restored network answering single images through the shared eval preprocessing."""

    def __init__(self, cfg):
        if cfg.backend == 'lite':     # resolved without the network's module: answering_model
            raise ValueError('ImageModel needs a RunConfig resolved with backend=tf')
        import tensorflow as tf
        from core import checkpoints, model
        from core.evaluate import calibration
        from data import preprocess
        v1 = tf.compat.v1
        self.cfg = cfg
        self.detector = None                 # data.faces' TensorFlow detector
        path = checkpoints.choose(cfg.train_dir, cfg.checkpoint)
        self.temperature = calibration.temperature_for(path, cfg.eval_flip)

        def build():
            self.image = v1.placeholder(tf.uint8, [None, None, 3], name='image')
            self.net_input = preprocess.eval_pipeline(self.image[None], cfg.image_spec)
            logits, end_points = model.inference_logits(self.net_input, cfg,
                                                        temperature=self.temperature)
            self.probabilities = tf.nn.softmax(logits)[0]
            self.layers = (self.net_input[0], {k: v[0] for k, v in end_points.items()},
                           self.probabilities)

        restored = model.restored(cfg, build, path)
        self.graph, self.sess, self.checkpoint = (restored.graph, restored.session,
                                                  restored.checkpoint)
        self.graph.finalize()
        self.int8 = None
        if cfg.int8_model:
            from core.serve import quantize
            self.int8 = quantize.Int8Network(cfg.int8_model).expect(
                (*cfg.crop_size, cfg.channels))

    def probabilities_of(self, rgb):
        if self.int8:   # preprocessing here, the network (and its temperature) in the file
            from core.evaluate import calibration
            net_input = self.sess.run(self.net_input, {self.image: rgb})
            return calibration.softmax(self.int8.logits(net_input))[0]
        return self.sess.run(self.probabilities, {self.image: rgb})

    def layers_of(self, rgb):
        """(network input, {layer name: activations}, probabilities) of one image, in one run."""
        return self.sess.run(self.layers, {self.image: rgb})


def find_faces(rgb, cfg, detector=None):
    """[(box, aligned face)] of a photo, left to right; the whole image when --detect=off.
    Boxes are (x, y, width, height) in the photo's pixels. `detector`: data.faces' own
    (TensorFlow) unless another is given."""
    if cfg.detect == 'off':
        return [((0, 0, rgb.shape[1], rgb.shape[0]), rgb)]
    from data import faces
    found = faces.find(rgb, faces.DETECTABLE_FACE if cfg.detect == 'check' else cfg.smallest_face,
                       detector)
    if cfg.detect == 'check':
        return [((0, 0, rgb.shape[1], rgb.shape[0]), rgb)] if found else []
    found = sorted(found, key=lambda f: f.box[0])
    return [(f.box, faces.aligned(rgb, f, cfg.face_size, cfg.margin, detector)) for f in found]


@dataclasses.dataclass
class LabelledFace:
    number: int                # 1, 2, ... left to right
    box: tuple                 # (x, y, width, height), whole pixels
    face: np.ndarray           # the aligned face the network saw
    probabilities: np.ndarray
    classes: list
    uncertain_below: float

    @property
    def best(self):
        return int(np.argmax(self.probabilities))

    @property
    def label(self):
        return self.classes[self.best]

    @property
    def confidence(self):
        return float(self.probabilities[self.best])

    @property
    def uncertain(self):
        return self.confidence < self.uncertain_below

    @property
    def text(self):
        """'female 97.3%', or 'uncertain (female 55.1%)' below the confidence threshold."""
        text = f'{self.label} {self.confidence * 100:.1f}%'
        return f'uncertain ({text})' if self.uncertain else text

    @property
    def short(self):
        """'female 97%', 'female? 55%' when uncertain: the label drawn on the photo."""
        return f'{self.label}{"?" if self.uncertain else ""} {self.confidence * 100:.0f}%'

    @property
    def box_text(self):
        return ','.join(str(v) for v in self.box)


def label_faces(rgb, cfg, probabilities_of, detector=None):
    """[LabelledFace] of every face of a photo, left to right."""
    return [LabelledFace(i, tuple(round(v) for v in box), face, probabilities_of(face),
                         cfg.classes, cfg.uncertain_below)
            for i, (box, face) in enumerate(find_faces(rgb, cfg, detector), start=1)]


def draw_boxes(rgb, labels):
    """A copy of the photo with a box and a label per face: labels = [((x, y, w, h), text)]."""
    import cv2
    image = np.ascontiguousarray(rgb.copy())
    thick = max(2, round(max(image.shape[:2]) / 300))
    for (x, y, w, h), text in labels:
        p1, p2 = (round(x), round(y)), (round(x + w), round(y + h))
        colour = (230, 60, 140) if 'female' in text else (40, 120, 230)
        cv2.rectangle(image, p1, p2, colour, thick)
        scale = thick / 2.5
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        top = max(p1[1] - th - 2 * thick, 0)
        cv2.rectangle(image, (p1[0], top), (p1[0] + tw + 2 * thick, top + th + 2 * thick), colour, -1)
        cv2.putText(image, text, (p1[0] + thick, top + th + thick), cv2.FONT_HERSHEY_SIMPLEX,
                    scale, (255, 255, 255), thick, cv2.LINE_AA)
    return image
