"""--mode=export: the trained network as a SavedModel, uint8 photos of any size in, class
probabilities out; beside it lite/, the network and the face detector as TFLite files that
answer without TensorFlow (core/serve/lite_export.py), and the int8 model on request.

    python runner.py --net=nn_gender --mode=export                    # <train_dir>/export/<step>
    python runner.py --net=nn_gender --mode=export --quantize=int8    # adds model_int8.tflite

Exporting the same checkpoint again adds what is missing (the int8 model) and
rewrites nothing; another checkpoint needs another --export_dir.
"""
import json
import os

import tensorflow as tf

from common import jsonfile
from core import checkpoints, model
from core.evaluate import calibration
from core.serve import lite_export, saved_model
from core.store import lite, released
from data import preprocess

v1 = tf.compat.v1
INFO_FILE = 'model.json'


def run(cfg):
    path = checkpoints.choose(cfg.train_dir, cfg.checkpoint)
    # model.ckpt-4290 -> export/4290; a released model's model.ckpt -> export/released
    name = os.path.basename(path)
    step = name.rsplit('-', 1)[-1] if '-' in name else 'released'
    export_dir = cfg.export_dir or os.path.join(released.work_folder(cfg.train_dir), 'export',
                                                step)
    info = _existing_export(export_dir, path)
    if cfg.quantize == 'int8':
        from core.serve import quantize
        quantize.check(cfg)
    if info is None:
        info = _write_saved_model(cfg, path, export_dir)
        lite_export.write(cfg, path, info['temperature'], export_dir)
        print(f'TFLite files written to {os.path.join(export_dir, lite.FOLDER)}: the network '
              'and the face detector, answering without TensorFlow')
    elif cfg.quantize != 'int8' or 'int8' in info:
        print(f'{export_dir} is already the export of {path}: nothing to add')
        return export_dir
    if cfg.quantize == 'int8':
        info['int8'] = int8 = quantize.export(cfg, path, info['temperature'], export_dir)
        line = (f'int8 model written to {os.path.join(export_dir, int8["file"])} '
                f'({int8["megabytes"]:.1f} MB); use it with --int8_model')
        if 'count' in int8:
            line += (f'\n  on the {int8["count"]} faces of the eval split: int8 '
                     f'{int8["int8_accuracy"] * 100:.2f}%, fp32 {int8["fp32_accuracy"] * 100:.2f}%'
                     f', same class for {int8["agreement"] * 100:.2f}%')
        print(line)
    with open(os.path.join(export_dir, INFO_FILE), 'w') as f:
        json.dump(info, f, indent=1)
    return export_dir


def _existing_export(export_dir, checkpoint_path):
    """The model.json of an export of this checkpoint at export_dir; None if there is none;
    FileExistsError if the folder holds something else."""
    if not os.path.exists(export_dir):
        return None
    info_path = os.path.join(export_dir, INFO_FILE)
    if os.path.isfile(info_path):
        info = jsonfile.read(info_path)
        if info.get('checkpoint') == checkpoint_path:
            return info
    raise FileExistsError(f'{export_dir} exists already and holds another export; give '
                          'another --export_dir')


def _write_saved_model(cfg, path, export_dir):
    temperature = calibration.temperature_for(path, cfg.eval_flip)

    def build():
        images = v1.placeholder(tf.uint8, [None, None, None, 3], name='images')
        logits, _ = model.inference_logits(preprocess.eval_pipeline(images, cfg.image_spec), cfg,
                                           temperature=temperature)
        return images, {'probabilities': tf.nn.softmax(logits, name='probabilities'),
                        'classes': tf.argmax(logits, -1, name='classes')}

    with model.restored(cfg, build, path) as run, run.graph.as_default():
        images, outputs = run.built
        saved_model.save(run.session, export_dir, {'images': images}, outputs)
    with open(os.path.join(export_dir, 'labels.txt'), 'w') as f:
        f.writelines(f'{name}\n' for name in cfg.classes)
    print(f'SavedModel of {path} written to {export_dir}\n'
          "  signature 'serving_default': images uint8 [N, H, W, 3] RGB -> probabilities "
          f'[N, {cfg.num_classes}] over {", ".join(cfg.classes)}')
    return dict(cfg.graph_settings(), classes=cfg.classes, checkpoint=path,
                eval_crop=cfg.eval_crop, eval_flip=cfg.eval_flip, temperature=temperature,
                face_size=cfg.face_size, margin=cfg.margin)
