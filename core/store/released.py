"""Released models: trained weights shipped in the repository, in models/<name>/, found by
name wherever the repository is cloned.

    python runner.py --mode=predict --image=photo.jpg             # the default model answers
    python runner.py --data_dir=my_photos --init_from=gender_res64s_v3 --train_dir=checkpoints/mine
    python -m tools.release --train_dir=checkpoints/base --name=my_base   # make one

A released model is a training folder cut down to what eval, predict, export and
fine-tuning read: run.json, the weights alone (model.ckpt, no optimizer slots), the
`checkpoint` file, calibration.json (calibration_flip.json for answers averaged with the
mirror image), and MODEL_CARD.md.
"""
import os

# models/ of this checkout, wherever it is cloned; FACECNN_MODELS points elsewhere.
MODELS_DIR = os.path.abspath(os.environ.get('FACECNN_MODELS') or os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), 'models'))
# The model that answers when no --train_dir is given, and the base the README fine-tunes.
DEFAULT = 'gender_res64s_v3'
CARD = 'MODEL_CARD.md'


def folder(name):
    return os.path.join(MODELS_DIR, name)


def names():
    """The released models in this checkout."""
    if not os.path.isdir(MODELS_DIR):
        return []
    return sorted(n for n in os.listdir(MODELS_DIR) if not n.startswith('.')
                  if os.path.isfile(os.path.join(MODELS_DIR, n, 'run.json')))


def find(name_or_path):
    """A training folder or checkpoint path as given, else the released model of that name,
    else None."""
    if not name_or_path:
        return None
    if os.path.exists(name_or_path) or os.path.exists(name_or_path + '.index'):
        return name_or_path
    if os.sep not in name_or_path and name_or_path in names():
        return folder(name_or_path)
    return None


def default():
    """The default released model's folder, or None when this checkout has none."""
    return folder(DEFAULT) if DEFAULT in names() else None


def is_released(path):
    """True for models/ itself and anything inside it (a link into it too)."""
    real, models = os.path.realpath(path), os.path.realpath(MODELS_DIR)
    return real == models or real.startswith(models + os.sep)


# What a command makes of a released model (reports, feature maps, exports) goes here,
# under the working folder: a shipped model's folder is never written into.
WORK_DIR = 'runs'


def work_folder(path):
    """Where a command writes what it makes of the model at `path` (a training folder or a
    checkpoint): `path` itself, or runs/<name> for a released model."""
    if not is_released(path):
        return path
    return os.path.join(WORK_DIR, name_of(path))


def name_of(path):
    """The released model a path inside models/ belongs to (its first folder there; '.' for
    models/ itself)."""
    return os.path.relpath(os.path.realpath(path), os.path.realpath(MODELS_DIR)).split(os.sep)[0]
