"""A TFLite file opened with LiteRT (ai-edge-litert): every thread of the machine, its
start-up line hidden, and a file that is not a model said in one line naming it.

    model = Model('lite/classifier.tflite')
    logits, = model.run(batch)          # its outputs, the input resized to the batch's shape
"""
import os

import numpy as np

from common import quiet


class NotAModel(OSError):
    """A file that LiteRT cannot read as a model (truncated, damaged, another file)."""


def interpreter(path, threads=None, allocate=True):
    """The LiteRT Interpreter of the model at `path`, its tensors allocated unless its
    input's size is given later (allocate=False: MTCNN's P-Net takes any photo size)."""
    from ai_edge_litert.interpreter import Interpreter
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path}: no such model file')
    try:
        with quiet.native_stderr_hidden():       # 'Created TensorFlow Lite XNNPACK delegate'
            model = Interpreter(model_path=path,
                                num_threads=threads or len(os.sched_getaffinity(0)))
            if allocate:
                model.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        raise NotAModel(f'{path} is damaged: not a TFLite model ({e})') from None
    return model


class Model:
    """A model answering batches of any size: its input is resized (and its tensors
    allocated) only when the batch's shape changes."""

    def __init__(self, path, threads=None):
        self.interpreter = interpreter(path, threads, allocate=False)
        self.input = self.interpreter.get_input_details()[0]['index']
        self.outputs = [d['index'] for d in self.interpreter.get_output_details()]
        self.shape = None

    def run(self, batch):
        """The model's outputs for `batch` (float32), in the file's output order."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if batch.shape != self.shape:
            self.interpreter.resize_tensor_input(self.input, batch.shape)
            with quiet.native_stderr_hidden():   # the first allocation makes the delegate
                self.interpreter.allocate_tensors()
            self.shape = batch.shape
        self.interpreter.set_tensor(self.input, batch)
        self.interpreter.invoke()
        return [self.interpreter.get_tensor(index).copy() for index in self.outputs]
