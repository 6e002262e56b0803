"""A TFLite file opened with LiteRT (ai-edge-litert): every thread of the machine, its
start-up line hidden, and a file that is not a model said in one line naming it."""
import os

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
