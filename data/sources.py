"""Where labelled images come from: label folders, UTKFace file names, FairFace's label
CSV, or a CSV of our own.

Each layout yields `Item`s (file, class name, split or None, attributes) plus
a list of (file, reason) for files it could not label.
"""
import csv
import dataclasses
import os

from common.settings import section, setting
from data import images

SPLIT_FOLDERS = {'train': 'train', 'eval': 'eval', 'validation': 'eval', 'val': 'eval'}
UTKFACE_GENDERS = ('male', 'female')          # 0 = male, 1 = female in the file names
UTKFACE_RACES = ('White', 'Black', 'Asian', 'Indian', 'Others')   # 0-4 in the file names
# The race attribute stored in records indexes this table: UTKFace's five first (so its
# numbers are its file names'), then FairFace's groups that UTKFace does not name.
RACES = UTKFACE_RACES + ('East Asian', 'Southeast Asian', 'Latino_Hispanic', 'Middle Eastern')
# FairFace's age bands -> the band's first year, stored as the age attribute (so 0-2 and
# 3-9 both count as children 0-9 in the reports). A spreadsheet once turned '3-9' and
# '10-19' into dates: the public copies say '03-Sep' and 'Oct-19'.
FAIRFACE_AGES = {'0-2': 0, '3-9': 3, '03-Sep': 3, '10-19': 10, 'Oct-19': 10, '20-29': 20,
                 '30-39': 30, '40-49': 40, '50-59': 50, '60-69': 60, 'more than 70': 70}
AGE_BUCKETS = [20, 30, 40, 50, 60]             # the 2023 team's: 20s, 30s, 40s, 50s, 60+


@dataclasses.dataclass
class Item:
    path: str
    rel: str                   # path relative to the source folder, stored in the records
    label_name: str
    split: str = None          # 'train' / 'eval' when the source is already split
    attributes: dict = dataclasses.field(default_factory=dict)
    digest: str = None         # SHA-1 of the file's bytes, once known


def printable(path):
    """A file name as text that any report, CSV or record can hold: bytes that are not
    UTF-8 (a name from an old camera or another system) are written as \\xNN."""
    return os.fsencode(path).decode('utf-8', 'backslashreplace')


def _rel(path, root):
    return printable(os.path.relpath(path, root))


def files_below(folder):
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


def label_folders(src, **_):
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
            classes.add(printable(cls))
            items += [Item(p, _rel(p, src), printable(cls), split) for p in files_below(folder)]
    if not classes:
        raise ValueError(f'{src} has no class folders (expected {src}/<class>/<images>)')
    return items, _sorted_classes(classes), []


def age_bucket_names(bounds):
    """[20, 30, 60] -> ['20s', '30-59', '60+']: one name per bucket."""
    names = []
    for lo, hi in zip(bounds, list(bounds[1:]) + [None]):
        names.append(f'{lo}+' if hi is None else f'{lo}s' if hi - lo == 10 and lo % 10 == 0
                     else f'{lo}-{hi - 1}')
    return names


def _utkface_label(gender, age, label, buckets):
    """The class name of a face, or None when the scheme leaves it out."""
    if label == 'gender':
        return UTKFACE_GENDERS[gender]
    if age < buckets[0]:
        return None
    index = max(i for i, lo in enumerate(buckets) if age >= lo)
    return f'{UTKFACE_GENDERS[gender]}_{age_bucket_names(buckets)[index]}'


def utkface(src, label='gender', buckets=AGE_BUCKETS, **_):
    """UTKFace chips named AGE_GENDER_RACE_DATETIME.jpg.chip.jpg; label = gender, or
    gender x age bucket (label='age_gender'). Age, gender and race are kept as attributes."""
    buckets = sorted(buckets)
    items, unlabelled = [], []
    for path in files_below(src):
        fields = os.path.basename(path).split('_')
        try:
            age, gender, race = (int(f) for f in fields[:3])
            if len(fields) < 4 or gender not in (0, 1):
                raise ValueError
        except ValueError:
            unlabelled.append((printable(path), 'malformed UTKFace name '
                               '(expected AGE_GENDER_RACE_DATE...)'))
            continue
        name = _utkface_label(gender, age, label, buckets)
        if name is None:
            unlabelled.append((printable(path),
                               f'age {age} is below the first age bucket ({buckets[0]})'))
            continue
        items.append(Item(path, _rel(path, src), name,
                          attributes={'age': age, 'gender': gender, 'race': race}))
    if label == 'gender':
        classes = list(UTKFACE_GENDERS)
    else:
        classes = [f'{g}_{b}' for g in UTKFACE_GENDERS for b in age_bucket_names(buckets)]
    return items, classes, unlabelled


def _open_csv(src):
    """The rows of a UTF-8 CSV (a byte-order mark, as spreadsheets save it, is skipped);
    ValueError naming the file for any other encoding."""
    try:
        with open(src, newline='', encoding='utf-8-sig') as f:
            reader = csv.DictReader(f)
            return reader.fieldnames or (), list(reader)
    except UnicodeDecodeError as e:
        raise ValueError(f'{src} is not UTF-8 text (byte 0x{e.object[e.start]:02x} at position '
                         f'{e.start}): save it as UTF-8 and run again') from None


LEAVES_FOLDER = 'the path leaves the CSV\'s folder'


def _inside(path, root):
    """Whether a CSV row's file lies in the CSV's folder (a path that leaves it, absolute or
    by '..', is refused: a CSV names its own photos, not any file of the machine)."""
    real, base = os.path.realpath(path), os.path.realpath(root)
    return real.startswith(base.rstrip(os.sep) + os.sep)


def csv_file(src, **_):
    """A CSV with a header: path,label[,split][,source][,integer attribute columns...].

    Paths are relative to the CSV's folder; `source` is the name stored in the
    records (default: the path).
    """
    root = os.path.dirname(os.path.abspath(src))
    items, unlabelled, classes = [], [], set()
    fieldnames, rows = _open_csv(src)
    missing = {'path', 'label'} - set(fieldnames)
    if missing:
        raise ValueError(f'{src} lacks the column(s) {", ".join(sorted(missing))} '
                         '(header: path,label[,split][,...])')
    attributes = [c for c in fieldnames if c not in ('path', 'label', 'split', 'source')]
    for row in rows:
        path = os.path.join(root, row['path'])
        if not _inside(path, root):
            unlabelled.append((printable(row['path']), LEAVES_FOLDER))
            continue
        if not row['label']:
            unlabelled.append((path, 'no label in the CSV'))
            continue
        attrs = {}
        for name in attributes:
            try:
                attrs[name] = int(row[name])
            except (TypeError, ValueError):
                pass
        split = SPLIT_FOLDERS.get((row.get('split') or '').lower())
        items.append(Item(path, row.get('source') or row['path'], row['label'], split, attrs))
        classes.add(row['label'])
    return items, _sorted_classes(classes), unlabelled


def fairface(src, **_):
    """FairFace's label CSV (file,age,gender,race,...), the files relative to its folder:
    gender is the label; race and age band are kept as attributes. Rows with a missing file
    or an unknown value are reported, not fatal."""
    root = os.path.dirname(os.path.abspath(src))
    items, unlabelled = [], []
    fieldnames, rows = _open_csv(src)
    missing = {'file', 'age', 'gender', 'race'} - set(fieldnames)
    if missing:
        raise ValueError(f'{src} lacks the FairFace column(s) {", ".join(sorted(missing))} '
                         '(header: file,age,gender,race)')
    for row in rows:
        row = {k: (v or '').strip() for k, v in row.items() if k}     # 'Female ' is Female
        path = os.path.join(root, row['file'])
        reason = _fairface_problem(row, path, root)
        if reason:
            # A path that leaves the folder is shown as the CSV gives it.
            shown = row['file'] if reason == LEAVES_FOLDER else path
            unlabelled.append((printable(shown), reason))
            continue
        attrs = {'age': FAIRFACE_AGES[row['age']], 'race': RACES.index(row['race'])}
        items.append(Item(path, row['file'], row['gender'].lower(), attributes=attrs))
    return items, list(UTKFACE_GENDERS), unlabelled


def _fairface_problem(row, path, root):
    """Why a FairFace row cannot be used, or ''."""
    if not _inside(path, root):
        return LEAVES_FOLDER
    if row['gender'].lower() not in UTKFACE_GENDERS:
        return f'unknown gender {row["gender"]!r} (Male or Female)'
    if row['race'] not in RACES:
        return f'unknown race {row["race"]!r}'
    if row['age'] not in FAIRFACE_AGES:
        return f'unknown age band {row["age"]!r}'
    if not os.path.isfile(path):
        return 'no such file'
    return ''


# A layout is one entry: (what --src is, its lister: src, label=, buckets= -> (items,
# classes, unlabelled)).
LAYOUTS = {'folders': ('folder', label_folders), 'utkface': ('folder', utkface),
           'csv': ('file', csv_file), 'fairface': ('file', fairface)}
UTKFACE_LABELS = ('gender', 'age_gender')


@dataclasses.dataclass(frozen=True)
class SourceSettings:
    """How the labels of a photo folder are given: the flags of data.convert, data.prepare
    and runner.py."""
    section('Labels of a photo folder (data/sources.py)')
    layout: str = setting('folders', 'How the photos are labelled: class folders, UTKFace '
                          'file names, FairFace\'s label CSV, or a CSV of path,label.',
                          choices=sorted(LAYOUTS))
    utkface_label: str = setting('gender', 'UTKFace layout: gender (2 classes) or age_gender '
                                 '(male/female x age buckets).', choices=UTKFACE_LABELS)
    label_names: list = setting(None, 'Names for the classes in their sorted order, e.g. '
                                'male,female for class folders 0/ and 1/.')


def list_items(src, layout='folders', label='gender', age_buckets=AGE_BUCKETS):
    """(items, classes, unlabelled) of `src` in `layout`."""
    kind, lister = LAYOUTS[layout]
    if kind == 'file' and not os.path.isfile(src):
        raise ValueError(f'--src={src} is not a CSV file')
    if kind == 'folder' and not os.path.isdir(src):
        raise ValueError(f'--src={src} is not a folder')
    items, classes, unlabelled = lister(src, label=label, buckets=age_buckets)
    # Broken links, FIFOs and devices are listed with their reason, never opened: reading a
    # FIFO would wait forever, a broken link would stop the whole run.
    reasons = [images.not_a_file(item.path) for item in items]
    unlabelled += [(printable(item.path), reason) for item, reason in zip(items, reasons)
                   if reason]
    return [item for item, reason in zip(items, reasons) if not reason], classes, unlabelled
