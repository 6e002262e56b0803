"""One checkpoint answering the same faces in float32 and in bfloat16: how often the class
agrees, how far the probabilities move, accuracy and calibration error in each.

    python -m bench.agreement --train_dir=checkpoints/base --data_dir=records/fairface_val

The eval view of eval and predict (the model's own crop and mirror averaging), its
calibrated temperature; every face of the eval split.
"""
import numpy as np
from absl import app, flags

from bench import harness
from core.store import released


flags.DEFINE_string('train_dir', released.DEFAULT, 'A trained run or a released model.')
flags.DEFINE_string('data_dir', 'records/fairface_val', 'Prepared faces; their eval split.')
flags.DEFINE_string('output', None, 'Also write the figures here as JSON.')
FLAGS = flags.FLAGS


def answers(name):
    """(probabilities, labels) of every eval face with --precision=`name`."""
    from core import config, model
    from core.evaluate import calibration
    values = {'mode': 'eval', 'train_dir': FLAGS.train_dir, 'data_dir': FLAGS.data_dir,
              'precision': name, 'backend': 'tf'}
    cfg = config.resolve(values, set(values))
    out, path = model.split_outputs(cfg, 'eval')
    temperature = calibration.temperature_for(path, cfg.eval_flip)
    return calibration.softmax(out['logits'], temperature), out['label'], cfg.precision_why


def main(argv):
    del argv
    harness.needs_bf16('agreement')
    from core.evaluate import calibration
    p32, labels, _ = answers('fp32')
    p16, _, why = answers('bf16')
    figures = {'faces': int(len(labels)), 'bf16': why,
               'same_class': float(np.mean(p32.argmax(-1) == p16.argmax(-1))),
               'mean_abs_probability_difference': float(np.mean(np.abs(p32 - p16)[:, 0])),
               'max_abs_probability_difference': float(np.max(np.abs(p32 - p16))),
               'accuracy_fp32': float(np.mean(p32.argmax(-1) == labels)),
               'accuracy_bf16': float(np.mean(p16.argmax(-1) == labels)),
               'ece_fp32': calibration.expected_calibration_error(p32, labels),
               'ece_bf16': calibration.expected_calibration_error(p16, labels)}
    harness.report(figures, FLAGS.output)


if __name__ == '__main__':
    app.run(main)
