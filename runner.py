"""Entry point of the platform: flags in, the chosen mode runs (modes/<name>.py).

    python runner.py --net=nn_gender --data_dir=my_photos                  # prepare faces, train
    python runner.py --net=nn_gender --data_dir=records/utkface_gender     # train (resumes)
    python runner.py --net=nn_gender --mode=eval
    python runner.py --net=nn_gender --mode=predict --image=photos/ --output=results.csv
    python runner.py --net=nn_gender --mode=features --image=face.jpg
    python runner.py --net=nn_gender --mode=export
    python runner.py --helpfull                                            # every flag

Every flag is a field of core.config.RunConfig (or of the face and source settings of
data/), with its default and help written there once.
"""
import sys

import common.quiet  # noqa: F401  (before TensorFlow)

from absl import app, flags  # noqa: E402

from common import jsonfile, paths  # noqa: E402
from common.settings import define_flags, help_text  # noqa: E402
from core import config, precision  # noqa: E402
from core.run import photos  # noqa: E402
from data.prepare import FaceSettings  # noqa: E402
from data.sources import SourceSettings  # noqa: E402

FLAGS = flags.FLAGS
FLAG_NAMES = (define_flags(config.RunConfig) + define_flags(FaceSettings)
              + define_flags(SourceSettings))
# What a user can fix by changing a flag or a folder: one line, no traceback.
# OSError: a full disk, a read-only folder, a quota (checkpoints.WriteFailed names the path).
# jsonfile.Damaged: a run.json, calibration.json, ... that is not JSON (it names the file).
USER_ERRORS = (config.ConfigError, OSError, FloatingPointError, jsonfile.Damaged,
               paths.Refused)


def main(argv):
    if len(argv) > 1:
        sys.exit(f'error: unexpected arguments {argv[1:]} (flags take the form --name=value)')
    execute(*flag_values())


def execute(values, explicit):
    """Runs the command the flags give and returns what its mode returned; a user's error
    exits with one line, a training stopped by a signal with its exit code."""
    # No global disable_eager_execution(): every model graph is an explicit tf.Graph run by a
    # Session, and the face detector (MTCNN) runs eagerly beside them.
    import modes
    from core import checkpoints
    from core.run.cluster import ClusterError
    try:
        cfg = configure(values, explicit)
        print(precision.Choice(cfg.precision, cfg.precision_why).line, flush=True)
        result = modes.run(cfg)
    except USER_ERRORS + (checkpoints.CheckpointError, ClusterError) as e:
        sys.exit(f'error: {e}')
    except KeyboardInterrupt:      # training and predict say what they kept themselves
        print('\ninterrupted: finished work is kept (a preparation continues where it '
              'stopped when the same command is run again)', file=sys.stderr)
        sys.exit(130)
    # A training stopped by Ctrl-C or SIGTERM saved its checkpoint, and is not finished.
    if getattr(result, 'interrupted', 0):
        sys.exit(result.interrupted)
    return result


def flag_values(**given):
    """(every flag's value, the names the user set): `given` as if set on the command line."""
    values = {name: FLAGS[name].value for name in FLAG_NAMES}
    explicit = {name for name in FLAG_NAMES if FLAGS[name].present}
    return {**values, **given}, explicit | set(given)


def configure(values, explicit):
    """The one way from flags to a RunConfig: refusals before any work, a photo folder
    prepared into its dataset, then the settings resolved."""
    config.check_before_work(values)
    prepared = photos.dataset_for(values)
    folder = values.get('data_dir') if prepared != values.get('data_dir') else None
    return config.resolve({**values, 'data_dir': prepared, 'photos_of': folder}, explicit)


HELP = ('-h', '-help', '--help', '--helpshort', '-?')
# Settings whose default comes from the network module (shown for --net, or nn_gender).
NET_DEFAULTS = ('input_size', 'crop_size', 'channels', 'batch_size', 'optimizer',
                'learning_rate', 'keep_prob', 'epochs', 'weight_decay')


def print_help(argv):
    import networks
    net = next((a.split('=', 1)[1] for a in argv if a.startswith('--net=')),
               config.RunConfig.net)
    defaults = networks.get(net).defaults if net in networks.names() else None
    filled = {key: f'from --net; {net}: {getattr(defaults, key)}' for key in NET_DEFAULTS
              if defaults is not None}
    print(__doc__.strip() + '\n\nFlags (python runner.py --helpfull adds TensorFlow\'s and '
          'absl\'s own):\n')
    print(help_text((config.RunConfig, SourceSettings, FaceSettings), filled))


def parse_flags(argv):
    """absl's parsing, with a flag's bad value said in one line; --help lists our flags
    by section, --helpfull every flag, both exiting 0."""
    if any(arg in HELP for arg in argv[1:]):
        print_help(argv)
        sys.exit(0)
    if '--helpfull' in argv[1:]:
        print(FLAGS.get_help())
        sys.exit(0)
    try:
        return FLAGS(argv)
    except flags.Error as e:
        sys.exit(f'error: {e}')


if __name__ == '__main__':
    app.run(main, flags_parser=parse_flags)
