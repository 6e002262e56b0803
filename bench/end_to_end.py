"""A labelled photo set judged the way a user's photos are: every file through predict
(detection, alignment, the model), its largest face's answer against its label; a photo
whose face is not found counts as wrong. Per race and age band when the layout has them.

    python -m bench.end_to_end --src=fairface/fairface_label_val.csv --layout=fairface
    python -m bench.end_to_end --src=my_photos --train_dir=checkpoints/mine

Without --train_dir the released model answers.
"""
import collections
import json
import os
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


def grouped(items, right):
    """{attribute: {group: [right, count]}} for race and age band."""
    from core.evaluate import groups
    from data.sources import RACES
    table = collections.defaultdict(lambda: collections.defaultdict(lambda: [0, 0]))
    for item, ok in zip(items, right):
        if 'race' in item.attributes:
            table['race'][RACES[item.attributes['race']]][0] += ok
            table['race'][RACES[item.attributes['race']]][1] += 1
        if 'age' in item.attributes:
            band = groups.age_group(item.attributes['age'])
            table['age'][band][0] += ok
            table['age'][band][1] += 1
    return table


def main(argv):
    del argv
    from data import sources
    items, _, unlabelled = sources.list_items(FLAGS.src, FLAGS.layout)
    with tempfile.TemporaryDirectory() as tmp:
        folder = os.path.join(tmp, 'photos')
        os.makedirs(folder)
        for i, item in enumerate(items):       # unique names, the extension kept
            os.symlink(os.path.abspath(item.path), os.path.join(folder, f'{i:06d}-'
                                                                 + os.path.basename(item.path)))
        got = answers(folder, os.path.join(tmp, 'answers.csv'))
    right = [got.get(f'{i:06d}-' + os.path.basename(item.path)) ==
             ALIASES.get(item.label_name.lower(), item.label_name.lower())
             for i, item in enumerate(items)]
    no_face = sum(got.get(f'{i:06d}-' + os.path.basename(it.path)) is None
                  for i, it in enumerate(items))
    result = {'src': FLAGS.src, 'train_dir': FLAGS.train_dir or 'released', 'count': len(items),
              'accuracy': sum(right) / len(items), 'no_face': no_face,
              'unlabelled': len(unlabelled), 'groups': {}}
    print(f'{len(items)} photos end to end: {result["accuracy"] * 100:.2f}% right '
          f'(no face found: {no_face}, counted wrong)')
    for attribute, rows in grouped(items, right).items():
        result['groups'][attribute] = {g: {'accuracy': r / n, 'count': n}
                                       for g, (r, n) in rows.items()}
        print(f'by {attribute}: ' + ', '.join(f'{g} {r / n * 100:.1f}% ({n})'
                                              for g, (r, n) in sorted(rows.items())))
    with open(FLAGS.output, 'w') as f:
        json.dump(result, f, indent=1)
    print(f'written to {FLAGS.output}')


if __name__ == '__main__':
    flags.mark_flag_as_required('src')
    app.run(main)
