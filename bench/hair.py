"""How much does a model lean on the hair? Its accuracy on the same faces twice: as eval
sees them, and with everything above the brows greyed out (where the brows lie in the
records' own framing, --margin), per race x gender and age band.

    python -m bench.hair --train_dir=checkpoints/study/cnn60-plain --data_dir=records/fairface_val

A model that reads the face itself loses little; one that reads hair and styling loses
most where hair and gender agree least (the women called men in issue 33's portraits,
their hair pulled back). Takes runner.py's flags (the model, the records, --eval_flip).
"""
import json
import sys

from absl import app, flags

import runner  # noqa: E402  (its flags)

flags.DEFINE_string('hair_output', 'bench/hair.json', 'Where the figures go.')
FLAGS = flags.FLAGS


def hidden_rows(spec):
    """Rows of the network's view that lie above the brows (the eval view is a centred crop
    of the stored face resized to input_size)."""
    from data import preprocess
    brow = preprocess.in_frame(preprocess.BROW_LINE, spec.margin) * spec.input_size[0]
    top = (spec.input_size[0] - spec.crop_size[0]) // 2 if spec.eval_crop == 'center' else 0
    scale = 1.0 if spec.eval_crop == 'center' else spec.crop_size[0] / spec.input_size[0]
    return max(0, int(round(brow * scale - top)))


def answers(cfg, split, hide):
    """(the eval fetches of every face of `split`, the hair greyed out when `hide`; the
    checkpoint), judged as eval judges them."""
    import tensorflow as tf
    from core import model
    rows = hidden_rows(cfg.image_spec)

    def grey(images):        # 0 is grey in the network's [-1, 1] range
        mask = tf.range(tf.shape(images)[1]) < rows
        return tf.where(mask[None, :, None, None], 0.0, images)

    return model.split_outputs(cfg, split, cfg.checkpoint, grey if hide else None)


def judged(cfg, split, hide):
    from core.evaluate import groups
    out, path = answers(cfg, split, hide)
    attributes = groups.attributes_of(out)
    report = groups.group_report(out['label'], out['prediction'], cfg.classes, attributes)
    return {'accuracy': float((out['label'] == out['prediction']).mean()), 'groups': report,
            'checkpoint': path}


def table(whole, hidden):
    lines = ['| group | faces | whole face | hair hidden | lost |', '|---|---:|---:|---:|---:|']
    rows = [('all', {'accuracy': whole['accuracy'], 'count': None},
             {'accuracy': hidden['accuracy']})]
    for kind in ('race x gender', 'age'):
        rows += [(name, row, hidden['groups'][kind][name])
                 for name, row in whole['groups'].get(kind, {}).items()]
    for name, row, hid in rows:
        lines.append(f'| {name} | {row["count"] or ""} | {row["accuracy"] * 100:.1f} | '
                     f'{hid["accuracy"] * 100:.1f} | '
                     f'{(row["accuracy"] - hid["accuracy"]) * 100:.1f} |')
    return '\n'.join(lines)


def eval_config():
    """(the run's settings as runner.py --mode=eval resolves them from the flags, the split
    eval judges)."""
    from data import records
    try:
        cfg = runner.configure(*runner.flag_values(mode='eval', backend='tf'))
    except runner.USER_ERRORS as e:
        sys.exit(f'error: {e}')
    return cfg, records.eval_split(records.read_meta(cfg.data_dir))


def main(argv):
    del argv
    cfg, split = eval_config()
    whole, hidden = judged(cfg, split, False), judged(cfg, split, True)
    print(f'{whole["checkpoint"]} on the {split} split of {cfg.data_dir}, the top '
          f'{hidden_rows(cfg.image_spec)} of {cfg.image_spec.crop_size[0]} rows greyed '
          f'(margin {cfg.image_spec.margin:g})' + (', flip averaged' if cfg.eval_flip else ''))
    print(table(whole, hidden))
    with open(FLAGS.hair_output, 'w') as f:
        json.dump({'whole': whole, 'hair_hidden': hidden, 'margin': cfg.image_spec.margin,
                   'eval_flip': cfg.eval_flip}, f, indent=1)


if __name__ == '__main__':
    app.run(main, flags_parser=runner.parse_flags)
