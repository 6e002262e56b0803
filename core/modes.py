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


@dataclasses.dataclass(frozen=True)
class Readers:
    """Who reads a setting: the modes, and whether a generator pair's training does (dcgan
    trains with its own Adam, a hinge loss and flips alone). A flag given to a mode or a net
    that does not read it is refused, not ignored (config.checks.check_flags_are_read)."""
    modes: tuple
    generators_train: bool = True

    def refusal(self, name, mode, net):
        """Why --name is not read by `mode` on `net`, or None when it is."""
        if mode.name not in self.modes:
            who = 'training' if self.modes == ('train',) else \
                '--mode=' + ', '.join(self.modes)
            return f'--{name} is for {who}; --mode={mode.name} does not read it: drop it'
        if net.is_gan and mode.trains and not self.generators_train:
            return (f'--{name} is for classifiers; {net.name} is a generator pair (it trains '
                    'with Adam, a hinge loss and flips alone): drop it')
        return None


def reads(*names, generators_train=True):
    return Readers(tuple(names), generators_train)


# What each need is and how to give it, for the one-line error when it is missing.
NEEDS = {
    'data_dir': '--data_dir: a folder of class folders of photos (my_photos/man/*.jpg, '
                'my_photos/woman/*.jpg), or records made by python -m data.convert. '
                'With 100 faces per class or more: python runner.py --net=NET '
                '--data_dir=my_photos; with fewer, start from the released model: python '
                'runner.py --data_dir=my_photos --init_from=RELEASED (README: "The first '
                'hour")',
    'image': '--image: a photo, or a folder of photos',
}


def need_text(need, net, released):
    """What `need` is and how to give it, with the user's --net and the default released
    model's name in the commands."""
    return NEEDS[need].replace('--net=NET', f'--net={net}').replace('=RELEASED', f'={released}')


def names():
    return list(MODES)


def get(name):
    return MODES[name]


EVERY_MODE = Readers(tuple(MODES))
ANSWERING = Readers(tuple(m for m in MODES if not MODES[m].trains))
TRAINING = reads('train')
CLASSIFIER_TRAINING = reads('train', generators_train=False)
