"""A model answering from its lite/ files (core/serve/lite_export.py) with numpy, OpenCV and
LiteRT: the same faces, the same preprocessing and the same network as ImageModel,
without TensorFlow (an answer in a fraction of a second instead of its ~4 s import).

    model = LiteModel('models/gender_cnn60_v2')
    for face in label_faces(rgb, cfg, model.probabilities_of, model.detector): ...
"""
import os

from common import tflite
from core.evaluate import calibration
from core.store import lite
from data import eval_view_np, faces
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
