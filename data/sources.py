"""Where labelled images come from: label folders, or UTKFace file names.

Each layout yields `Item`s (file, class name, split or None, attributes) plus
a list of (file, reason) for files it could not label.
"""
import dataclasses
import os

SPLIT_FOLDERS = {'train': 'train', 'eval': 'eval', 'validation': 'eval', 'val': 'eval'}
UTKFACE_GENDERS = ('male', 'female')          # 0 = male, 1 = female in the file names


@dataclasses.dataclass
class Item:
    path: str
    rel: str                   # path relative to the source folder, stored in the records
    label_name: str
    split: str = None          # 'train' / 'eval' when the source is already split
    attributes: dict = dataclasses.field(default_factory=dict)


def _files(folder):
    """Every non-hidden regular file below `folder`, sorted; images are recognised by content."""
    found = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith('.'))
        found += [os.path.join(root, n) for n in sorted(names) if not n.startswith('.')]
    return found


def _sorted_classes(names):
    """Numeric folder names sort as numbers (0, 1, ..., 10), others alphabetically."""
    if all(n.isdigit() for n in names):
        return sorted(names, key=int)
    return sorted(names)


def label_folders(src):
    """`src/<class>/...` or `src/train/<class>/...` + `src/eval/<class>/...`."""
    subdirs = [d for d in sorted(os.listdir(src))
               if os.path.isdir(os.path.join(src, d)) and not d.startswith('.')]
    presplit = {d: SPLIT_FOLDERS[d.lower()] for d in subdirs if d.lower() in SPLIT_FOLDERS}
    roots = [(os.path.join(src, d), split) for d, split in presplit.items()] or [(src, None)]
    items, classes = [], set()
    for root, split in roots:
        for cls in sorted(os.listdir(root)):
            folder = os.path.join(root, cls)
            if not os.path.isdir(folder) or cls.startswith('.'):
                continue
            classes.add(cls)
            items += [Item(p, os.path.relpath(p, src), cls, split) for p in _files(folder)]
    if not classes:
        raise ValueError(f'{src} has no class folders (expected {src}/<class>/<images>)')
    return items, _sorted_classes(classes), []


def utkface(src):
    """UTKFace chips named AGE_GENDER_RACE_DATETIME.jpg.chip.jpg; label = gender."""
    items, unlabelled = [], []
    for path in _files(src):
        fields = os.path.basename(path).split('_')
        try:
            age, gender, race = (int(f) for f in fields[:3])
            if len(fields) < 4 or gender not in (0, 1):
                raise ValueError
        except ValueError:
            unlabelled.append((path, 'malformed UTKFace name (expected AGE_GENDER_RACE_DATE...)'))
            continue
        items.append(Item(path, os.path.relpath(path, src), UTKFACE_GENDERS[gender],
                          attributes={'age': age, 'gender': gender, 'race': race}))
    return items, list(UTKFACE_GENDERS), unlabelled


LAYOUTS = {'folders': label_folders, 'utkface': utkface}
