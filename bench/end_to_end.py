"""A labelled photo set judged the way a user's photos are: every file through predict
(detection, alignment, the model), its largest face's answer against its label; a photo
whose face is not found counts as wrong. Per race, age band and race x gender when the
layout has them, with the share of women called men and of men called women (eval's
figures, for photos instead of prepared faces).

    python -m bench.end_to_end --src=fairface/fairface_label_val.csv --layout=fairface
    python -m bench.end_to_end --src=my_photos --train_dir=checkpoints/mine

Without --train_dir the released model answers.
"""
import json
import os
import sys
import tempfile

from absl import app, flags

from bench import harness
flags.DEFINE_string('src', None, 'The labelled photos (as data.prepare takes them).')
flags.DEFINE_string('layout', 'folders', 'Their layout: folders, utkface, fairface, csv.')
flags.DEFINE_string('train_dir', None, 'The model (default: the released model).')
flags.DEFINE_string('output', 'bench/end_to_end.json', 'Where the figures go.')
FLAGS = flags.FLAGS
ALIASES = {'man': 'male', 'woman': 'female', 'men': 'male', 'women': 'female'}


def answers(folder, out_csv):
    """{file name: class of its largest face, or None} from predict over `folder`."""
    model = [f'--train_dir={FLAGS.train_dir}'] if FLAGS.train_dir else []
    harness.runner('--mode=predict', f'--image={folder}', f'--output={out_csv}', *model,
                   quiet=True)
    from modes.predict import largest_faces
    return {os.path.basename(name): row['class'] or None
            for name, row in largest_faces(out_csv).items()}


def judged(items, truths, answers):
    """(group report, error sides) of the answers, as eval gives them for its faces: per
    race, age band and race x gender; a photo with no face is wrong and on neither side."""
    import numpy as np
    from core.evaluate import groups
    from data.records import ATTRIBUTE_MISSING
    classes = list(groups.GENDERS)
    if set(truths) - set(classes):
        return {}, {}                          # not a male/female set: no groups to cross
    labels = np.array([classes.index(truth) for truth in truths])
    predictions = np.array([classes.index(a) if a in classes else -1 for a in answers])
    attributes = {name: np.array([it.attributes.get(name, ATTRIBUTE_MISSING) for it in items])
                  for name in ('race', 'age') if any(name in it.attributes for it in items)}
    return (groups.group_report(labels, predictions, classes, attributes),
            groups.error_sides(labels, predictions, classes, attributes))


def main(argv):
    del argv
    from core.evaluate import groups
    from data import sources
    items, _, unlabelled = sources.list_items(FLAGS.src, FLAGS.layout)
    if not items:
        sys.exit(f'error: --src={FLAGS.src}: no photo can be used'
                 + (f' ({unlabelled[0][0]}: {unlabelled[0][1]}, ...)' if unlabelled else ''))
    keys = [f'{i:06d}-' + os.path.basename(item.path) for i, item in enumerate(items)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = os.path.join(tmp, 'photos')
        os.makedirs(folder)
        for key, item in zip(keys, items):       # unique names, the extension kept
            os.symlink(os.path.abspath(item.path), os.path.join(folder, key))
        got = answers(folder, os.path.join(tmp, 'answers.csv'))
    truths = [ALIASES.get(it.label_name.lower(), it.label_name.lower()) for it in items]
    given = [got.get(key) for key in keys]
    report, sides = judged(items, truths, given)
    right = sum(answer == truth for answer, truth in zip(given, truths))
    no_face = given.count(None)
    result = {'src': FLAGS.src, 'train_dir': FLAGS.train_dir or 'released', 'count': len(items),
              'accuracy': right / len(items), 'no_face': no_face,
              'unlabelled': len(unlabelled), 'groups': report, 'error_sides': sides}
    print(f'{len(items)} photos end to end: {result["accuracy"] * 100:.2f}% right '
          f'(no face found: {no_face}, counted wrong)')
    for attribute, rows in report.items():
        print(f'by {attribute}: ' + ', '.join(f'{g} {r["accuracy"] * 100:.1f}% ({r["count"]})'
                                              for g, r in rows.items()))
    print(groups.format_sides(sides))
    with open(FLAGS.output, 'w') as f:
        json.dump(result, f, indent=1)
    print(f'written to {FLAGS.output}')


if __name__ == '__main__':
    flags.mark_flag_as_required('src')
    app.run(main)
