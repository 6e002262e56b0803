"""Which face is a photo about? The subject rule of data.prepare measured on real photos.

    python bench/subject_face.py --photos=fairface/val --limit=5000
    python bench/subject_face.py --photos=../shared/datasets/portraits

Every photo is searched for faces as preparation searches it. For photos with several,
the largest face is set against the face nearest the photo's centre: in FairFace's
photos (each a padded crop around its labelled face) the centred face is the one the
label is about, so a largest face that is not the centred one is a wrong pick. For each
margin (the largest face's short side over the next one's), the photos kept and the
wrong picks among them are printed.
"""
import os
import sys

from absl import app, flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
import common.quiet  # noqa: E402,F401  (before TensorFlow)

flags.DEFINE_string('photos', None, 'A folder of photos (searched recursively).')
flags.DEFINE_integer('limit', 0, 'Photos looked at, in name order (0 = all).')
FLAGS = flags.FLAGS
MARGINS = (1.0, 1.1, 1.2, 1.3, 1.5, 1.75, 2.0)
SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')


def photo_paths(folder, limit):
    paths = sorted(os.path.join(root, name) for root, _, names in os.walk(folder)
                   for name in names if name.lower().endswith(SUFFIXES))
    return paths[:limit] if limit else paths


def centred(found, rgb):
    """The face whose box centre is nearest the photo's centre."""
    h, w = rgb.shape[:2]
    return min(found, key=lambda f: (f.box[0] + f.box[2] / 2 - w / 2) ** 2
               + (f.box[1] + f.box[3] / 2 - h / 2) ** 2)


def several(paths):
    """[(margin, largest is the centred face)] of the photos with several faces."""
    from data import faces, prepare
    from data.images import BadImage, load_rgb
    settings = prepare.FaceSettings()
    detector = faces.get_detector()
    out = []
    for k, path in enumerate(paths, 1):
        try:
            rgb = load_rgb(path)
        except BadImage:
            continue
        found = detector.detect(rgb, min_face=prepare.search_size(settings))
        if len(found) > 1:
            ranked, margin = prepare.by_size(found)
            out.append((margin, ranked[0] is centred(found, rgb)))
        if k % 500 == 0:
            print(f'{k}/{len(paths)} photos, {len(out)} with several faces', flush=True)
    return out


def main(argv):
    del argv
    if not FLAGS.photos or not os.path.isdir(FLAGS.photos):
        sys.exit('usage: python bench/subject_face.py --photos=FOLDER [--limit=N]')
    paths = photo_paths(FLAGS.photos, FLAGS.limit)
    found = several(paths)
    print(f'{FLAGS.photos}: {len(paths)} photos, {len(found)} with several faces')
    print('| margin | kept | wrong picks among kept |\n|---|---|---|')
    for margin in MARGINS:
        kept = [right for ratio, right in found if ratio >= margin]
        wrong = len(kept) - sum(kept)
        print(f'| {margin:g} | {len(kept)} of {len(found)} | {wrong} '
              f'({wrong / max(len(kept), 1) * 100:.1f}%) |')


if __name__ == '__main__':
    app.run(main)
