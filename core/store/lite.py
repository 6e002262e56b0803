"""A model's TensorFlow-free answering files, lite/ beside its checkpoint: what they are
called and whether they answer for a run's settings (core/serve/lite_export.py writes
them, core/serve/lite_model.py answers with them).
"""
import os

from common import jsonfile

FOLDER, INFO_FILE, CLASSIFIER = 'lite', 'lite.json', 'classifier.tflite'
# The modes that answer from them (--backend); features and export keep TensorFlow.
MODES = ('predict', 'demo', 'eval')
# The settings baked into the files: a run asking for others answers through TensorFlow.
BAKED = ('eval_flip', 'eval_crop', 'face_size', 'margin')


def present(model_dir):
    return os.path.isfile(os.path.join(model_dir, FOLDER, INFO_FILE))


def info_of(model_dir):
    """lite.json of a model folder, or None when it has no lite/ files."""
    return jsonfile.read(os.path.join(model_dir, FOLDER, INFO_FILE)) if present(model_dir) \
        else None


def why_not(cfg):
    """'' when cfg's model answers from its lite/ files as TensorFlow would; else why not."""
    for flag in ('int8_model', 'saved_model', 'ensemble'):
        if getattr(cfg, flag):
            return f'--{flag} runs through TensorFlow'
    if cfg.precision == 'bf16':
        return '--precision=bf16 runs through TensorFlow (TFLite answers in float32)'
    info = info_of(cfg.train_dir) if cfg.train_dir else None
    if info is None:
        return (f'{cfg.train_dir} has no {FOLDER}/ files (tools.release and --mode=export '
                'write them)')
    if cfg.checkpoint != 'best' and os.path.basename(cfg.checkpoint) != info['checkpoint']:
        return f'--checkpoint={cfg.checkpoint} is not the checkpoint {FOLDER}/ was made from'
    for key in BAKED:
        mine = getattr(cfg, key)
        if mine is not None and mine != info[key]:
            return f'its files answer with --{key}={info[key]}, not {mine}'
    return detector_differs(info)


def detector_differs(info):
    """Why the detector's files are not the installed mtcnn's ('' when they are)."""
    from data import mtcnn_lite
    try:
        installed = mtcnn_lite.weights_checksum()
    except OSError as e:
        return f'the mtcnn package cannot be read ({e})'
    if info.get('detector', {}).get('mtcnn_weights_sha256') != installed:
        return ('its face detector was converted from other MTCNN weights than the '
                'installed mtcnn package holds')
    return ''
