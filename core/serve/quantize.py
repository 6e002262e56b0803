"""int8 inference: the trained network as a fully integer LiteRT (TensorFlow Lite) model.

    python runner.py --mode=export --net=nn_gender --quantize=int8
    python runner.py --mode=eval --net=nn_gender --int8_model=checkpoints/nn_gender/export/4290/model_int8.tflite
    python runner.py --mode=predict --net=nn_gender --int8_model=<the same file> --image=photo.jpg

Why: in fp32 our graph and Keras run the same oneDNN kernels at the same speed;
CPUs with VNNI do four int8 multiply-adds where fp32 does one, and XNNPACK,
LiteRT's CPU engine, has int8 kernels for them. Only the network is quantized:
decoding, face alignment and `preprocess.eval_pipeline` stay in TensorFlow,
shared with every other mode. Activation ranges are calibrated on training
faces seen through the eval view (post-training quantization); the file holds
the calibration temperature, and export measures its accuracy against fp32.
"""
import os
import tempfile

import numpy as np
import tensorflow as tf

from common import quiet
from core import model
from core.serve import saved_model
from data import pipeline, records

v1 = tf.compat.v1
FILE_NAME = 'model_int8.tflite'
CALIBRATION_FACES = 512


def network(cfg, checkpoint_path, temperature):
    """(graph, session, net_input, logits): the inference graph from the network's input on,
    [N, h, w, c] floats in [-1, 1] -> logits / temperature (flip-averaged with cfg.eval_flip),
    restored from the checkpoint."""
    def build():
        net_input = v1.placeholder(tf.float32, [None, *cfg.crop_size, cfg.channels],
                                   name='net_input')
        logits, _ = model.inference_logits(net_input, cfg, temperature=temperature)
        return net_input, logits

    run = model.restored(cfg, build, checkpoint_path)
    return (run.graph, run.session, *run.built)


def network_savedmodel(cfg, checkpoint_path, temperature, out_dir):
    graph, sess, net_input, logits = network(cfg, checkpoint_path, temperature)
    with graph.as_default(), sess:
        saved_model.save(sess, out_dir, {'net_input': net_input}, {'logits': logits},
                   clear_devices=True)


def split_batches(cfg, split, batch_size=64, limit=None):
    """Numpy batches {'image', 'label', 'filename', 'attr/...'} of a split through the eval
    view: the same `pipeline.make_dataset` as eval."""
    graph = tf.Graph()
    with graph.as_default(), model.on_cpu():
        ds = pipeline.make_dataset(cfg.data_dir, split, cfg.image_spec, batch_size, False,
                                   cache_mb=cfg.cache_mb)
        iterator = v1.data.make_initializable_iterator(ds)
        batch = iterator.get_next()
    seen = 0
    with model.session(cfg, graph) as sess:
        for out in pipeline.run_split(sess, iterator, batch):
            yield out
            seen += len(out['label'])
            if limit is not None and seen >= limit:
                return


def convert(cfg, checkpoint_path, temperature, count=CALIBRATION_FACES):
    """The int8 model as bytes: weights and activations int8, float input and logits."""
    meta = records.read_meta(cfg.data_dir)
    split = 'train' if 'train' in meta['splits'] else next(iter(meta['splits']))

    def calibration_faces():
        for out in split_batches(cfg, split, batch_size=32, limit=count):
            yield [out['image']]

    from absl import logging as absl_logging
    absl_logging.set_verbosity(absl_logging.WARNING)   # the converter's SavedModel-loading chatter
    with tempfile.TemporaryDirectory() as tmp:
        saved = os.path.join(tmp, 'network')
        network_savedmodel(cfg, checkpoint_path, temperature, saved)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = calibration_faces
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        with quiet.native_stderr_hidden():       # the converter's 'fully_quantize: 0, ...'
            return converter.convert()


class Int8Network:
    """Runs an int8 model file: net_input batches in, calibrated logits out."""

    def __init__(self, path, threads=None):
        from ai_edge_litert.interpreter import Interpreter
        if not os.path.isfile(path):
            raise FileNotFoundError(f'{path}: no int8 model here (write one with '
                                    '--mode=export --quantize=int8)')
        self.path = path
        threads = threads or len(os.sched_getaffinity(0))
        try:
            with quiet.native_stderr_hidden():   # 'Created TensorFlow Lite XNNPACK delegate'
                self.interpreter = Interpreter(model_path=path, num_threads=threads)
        except ValueError as e:                  # not a flatbuffer: another file entirely
            from core.store.errors import ConfigError
            raise ConfigError(f'{path} is not an int8 model ({e}): write one with '
                              '--mode=export --quantize=int8') from None
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.input_shape = tuple(int(d) for d in self.input['shape'][1:])
        self.batch_size = None

    def expect(self, shape):
        """Stops with one line when the file was made for other faces than `shape`."""
        if tuple(shape) != self.input_shape:
            from core.store.errors import ConfigError
            raise ConfigError(f'{self.path} takes faces of {self.input_shape}, not '
                              f'{tuple(shape)}: it was exported from another net or --channels')
        return self

    def logits(self, net_input):
        net_input = np.asarray(net_input, np.float32)
        self.expect(net_input.shape[1:])
        if len(net_input) != self.batch_size:
            self.interpreter.resize_tensor_input(self.input['index'], net_input.shape)
            with quiet.native_stderr_hidden():
                self.interpreter.allocate_tensors()
            self.batch_size = len(net_input)
        self.interpreter.set_tensor(self.input['index'], net_input)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output['index']).copy()


def compare(cfg, checkpoint_path, temperature, int8_path, split='eval'):
    """Accuracy of the fp32 checkpoint and of its int8 model on one split, and how often
    they agree: the price of quantization, measured."""
    _, sess, net_input, logits = network(cfg, checkpoint_path, temperature)
    int8 = Int8Network(int8_path)
    labels, fp32, quantized = [], [], []
    with sess:
        for batch in split_batches(cfg, split, cfg.batch_size):
            labels.append(batch['label'])
            fp32.append(sess.run(logits, {net_input: batch['image']}).argmax(-1))
            quantized.append(int8.logits(batch['image']).argmax(-1))
    labels, fp32, quantized = (np.concatenate(v) for v in (labels, fp32, quantized))
    return {'split': split, 'count': int(len(labels)),
            'fp32_accuracy': float(np.mean(fp32 == labels)),
            'int8_accuracy': float(np.mean(quantized == labels)),
            'agreement': float(np.mean(fp32 == quantized))}


def check(cfg):
    """Before anything is written: calibration needs the training faces."""
    if not cfg.data_dir or not os.path.isdir(cfg.data_dir):
        from core.store.errors import ConfigError
        where = f'{cfg.data_dir} is absent' if cfg.data_dir else 'none is known'
        raise ConfigError('--quantize=int8 calibrates on training faces: give --data_dir, '
                          f'the TFRecords the model was trained on ({where})')


def export(cfg, checkpoint_path, temperature, export_dir):
    """Writes FILE_NAME into export_dir and measures it against fp32; returns the figures.
    Call check(cfg) first, before writing anything else."""
    blob = convert(cfg, checkpoint_path, temperature)
    path = os.path.join(export_dir, FILE_NAME)
    with open(path, 'wb') as f:
        f.write(blob)
    info = {'file': FILE_NAME, 'megabytes': len(blob) / 1e6,
            'calibration_faces': CALIBRATION_FACES}
    if 'eval' in records.read_meta(cfg.data_dir)['splits']:
        info.update(compare(cfg, checkpoint_path, temperature, path))
    return info


def evaluate(cfg, split):
    """--mode=eval --int8_model: the same split, pipeline and report through the int8 file;
    its report goes beside that file, and the checkpoint's calibration is left alone (the
    file carries its temperature already)."""
    from core.evaluate import report
    net = Int8Network(cfg.int8_model).expect((*cfg.crop_size, cfg.channels))
    parts = []
    for batch in split_batches(cfg, split, cfg.batch_size):
        logits = net.logits(batch.pop('image'))
        parts.append(dict(batch, logits=logits, prediction=logits.argmax(-1).astype(np.int32)))
    return report.write(cfg, split, pipeline.concatenate(parts), cfg.int8_model, suffix='_int8')
