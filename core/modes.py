"""What each mode of runner.py is, needs and may do: read by the flags, their help and their
checks. The mode itself is modes/<name>.py (its run(cfg)), imported only when it runs (so a
mode's heavy imports, Gradio for the demo, cost nothing to the others).
"""
import dataclasses


@dataclasses.dataclass(frozen=True)
class Mode:
    name: str
    help: str
    needs: tuple = ()            # settings it cannot run without: 'data_dir', 'image'
    trains: bool = False         # writes the training folder (--fresh, --init_from apply)
    reads_data: bool = False     # learns the classes from --data_dir when no model records them
    nets: str = 'classifier'     # the networks it serves: classifier, gan (a pair), or any


MODES = {m.name: m for m in (
    Mode('train', 'train, or resume, on --data_dir', needs=('data_dir',),
         trains=True, reads_data=True, nets='any'),
    Mode('eval', 'accuracy, per-group report and calibration on the eval split',
         reads_data=True),
    Mode('predict', 'the class of every face in --image',
         needs=('image',)),
    Mode('features', 'feature maps of the face in --image',
         needs=('image',), nets='any'),
    Mode('export', 'a SavedModel (and an int8 model with --quantize)'),
    Mode('demo', 'a web page: upload, webcam, feature maps, made faces'),
    Mode('generate', 'faces of --label made by a generator pair '
         '(--net=dcgan): a grid and single PNGs', nets='gan'),
)}

# What each need is and how to give it, for the one-line error when it is missing.
NEEDS = {
    'data_dir': '--data_dir: a folder of class folders of photos (my_photos/man/*.jpg, '
                'my_photos/woman/*.jpg), or records made by python -m data.convert. '
                'With 100 faces per class or more: python runner.py --net=NET '
                '--data_dir=my_photos; with fewer, start from the released model: python '
                'runner.py --data_dir=my_photos --init_from=gender_cnn60_v2 (README: "The first '
                'hour")',
    'image': '--image: a photo, or a folder of photos',
}


def need_text(need, net):
    """What `need` is and how to give it, with the user's --net in the commands."""
    return NEEDS[need].replace('--net=NET', f'--net={net}')


def names():
    return list(MODES)


def get(name):
    return MODES[name]
