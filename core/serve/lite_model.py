"""A model answering from its lite/ files (core/serve/lite_export.py) with numpy, OpenCV and
LiteRT: the same faces, the same preprocessing and the same network as ImageModel,
without TensorFlow (an answer in a fraction of a second instead of its ~4 s import).

    model = LiteModel(released.default())
    for face in label_faces(rgb, cfg, model.probabilities_of, model.detector): ...
"""
import io
import os

import numpy as np
from PIL import Image

from common import tflite
from core.evaluate import calibration
from core.store import lite
from data import eval_view_np, faces, records
from data.preprocess import ImageSpec


class LiteModel:
    def __init__(self, model_dir):
        folder = os.path.join(model_dir, lite.FOLDER)
        self.info = lite.info_of(model_dir)
        self.checkpoint = os.path.join(model_dir, self.info['checkpoint'])
        self.spec = ImageSpec(input_size=tuple(self.info['input_size']),
                              crop_size=tuple(self.info['crop_size']),
                              channels=self.info['channels'], eval_crop=self.info['eval_crop'])
        self.source = os.path.join(folder, self.info['classifier'])
        self.network = tflite.Model(self.source)
        self.detector = faces.LiteDetector(folder)

    def logits(self, net_input):
        """Calibrated logits of a batch of network inputs ([N, h, w, c] in [-1, 1])."""
        return self.network.run(net_input)[0]

    def probabilities_of(self, face):
        """Class probabilities of one aligned face (uint8 RGB)."""
        return calibration.softmax(self.logits(eval_view_np.eval_pipeline(face[None],
                                                                          self.spec)))[0]

    def split_outputs(self, data_dir, meta, split, batch_size=64):
        """What core.model.split_outputs gives for a split of a dataset (the logits before
        the model's temperature, as TensorFlow's eval has them), from the lite/ files."""
        names = tuple(meta.get('attributes', ()))
        parts, batch = [], []
        for face in records.faces_of(data_dir, meta, split, names):
            with Image.open(io.BytesIO(face.pop('image/encoded'))) as image:
                face['image'] = np.asarray(image.convert('RGB'))
            batch.append(face)
            if len(batch) == batch_size:
                parts.append(self._answers(batch))
                batch = []
        if batch:
            parts.append(self._answers(batch))
        if not parts:
            raise ValueError(f'the {split} split of {data_dir} holds no faces')
        return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}

    def _answers(self, batch):
        logits = self.logits(self._net_inputs([f['image'] for f in batch]))
        logits = logits * self.info['temperature']
        out = {key: np.array([f[key] for f in batch]) for key in batch[0] if key != 'image'}
        out['label'] = out['label'].astype(np.int32)
        return dict(out, logits=logits, prediction=logits.argmax(-1).astype(np.int32))

    def _net_inputs(self, faces):
        """The network inputs of uint8 faces: resized together where they share a size
        (numpy's resize costs ten times more a face one by one)."""
        out, sizes = [None] * len(faces), {}
        for index, face in enumerate(faces):
            sizes.setdefault(face.shape, []).append(index)
        for indices in sizes.values():
            views = eval_view_np.eval_pipeline(np.stack([faces[i] for i in indices]), self.spec)
            for index, view in zip(indices, views):
                out[index] = view
        return np.stack(out)
