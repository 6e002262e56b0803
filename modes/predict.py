"""--mode=predict: the class of every face in a photo or a folder of photos.

    python runner.py --net=nn_gender --mode=predict --image=photos/ --output=results.csv --annotate=out/

One line per face, `photo: face 1 at x,y,w,h: female 97.3%` (a box's left, top, width
and height in the photo's pixels), or why a photo has none; the CSV has the same.
"""
import contextlib
import csv
import os
import sys

from PIL import Image

from common import paths
from core.evaluate import calibration
from core.serve.inference import answering_model, draw_boxes, label_faces, list_images
from data.images import BadImage, load_rgb
from data.sources import printable

BOX_COLUMN = 'box_x_y_w_h'
GRID_TILE = 240             # pixels a side of each photo in the annotated grid
GRID_PHOTOS = 100           # the grid shows the first photos only: its size stays bounded
ANNOTATED_MARKER = '.annotated_by_predict'


def largest_faces(output_csv):
    """{file: its largest face's row} of a predict CSV (--output); a photo with no face
    has its one row with an empty class."""
    largest = {}
    with open(output_csv, newline='', encoding='utf-8') as f:
        for row in csv.DictReader(f):
            area = -1.0
            if row['class']:
                _, _, w, h = (float(v) for v in row[BOX_COLUMN].split(','))
                area = w * h
            if row['file'] not in largest or area > largest[row['file']][1]:
                largest[row['file']] = (row, area)
    return {name: row for name, (row, _) in largest.items()}


def columns_of(classes):
    return ['file', 'face', BOX_COLUMN, 'class', 'probability', 'uncertain'] + [
        f'p_{c}' for c in classes] + ['error']


def check_outputs(cfg):
    """Before any work: the CSV and the annotated copies never land on a photo."""
    outputs = {k: v for k, v in (('output', cfg.output), ('annotate', cfg.annotate)) if v}
    paths.check_apart(outputs, {'image': cfg.image})
    if cfg.output:
        paths.check_replaceable_file('output', cfg.output, ','.join(columns_of(cfg.classes)))
    if cfg.annotate:
        paths.check_output_folder('annotate', cfg.annotate, ANNOTATED_MARKER)


def run(cfg):
    files = list_images(cfg.image)
    check_outputs(cfg)
    net = answering_model(cfg)
    warning = calibration.warning_for(net.checkpoint, cfg.eval_flip)
    if warning:
        print(f'note: {warning}: the percentages below may be overconfident', flush=True)
    columns = columns_of(cfg.classes)
    rows, thumbnails, copies = [], [], set()
    # Each photo's rows are written as they come, so an interrupted run keeps what it did.
    with contextlib.ExitStack() as stack:
        writer = None
        if cfg.output:
            f = stack.enter_context(open(cfg.output, 'w', newline='', encoding='utf-8'))
            writer = csv.DictWriter(f, columns, restval='')
            writer.writeheader()
        done = 0
        try:
            for path in files:
                name = printable(path)
                photo_rows, lines, rgb, found = _answer(path, name, cfg, net)
                if writer:
                    writer.writerows(photo_rows)
                    f.flush()
                rows += photo_rows
                done += 1
                print('\n'.join(lines), flush=True)      # after its rows are safe in the CSV
                if cfg.annotate and rgb is not None:
                    title = ', '.join(face.short for face in found) or 'no face found'
                    image = annotate(rgb, [(face.box, face.short) for face in found],
                                     annotated_name(path, cfg.image, copies), cfg.annotate)
                    if len(thumbnails) < GRID_PHOTOS:
                        thumbnails.append((f'{os.path.basename(name)}: {title}',
                                           thumbnail(image)))
        except KeyboardInterrupt:
            kept = f': their {len(rows)} rows are in {cfg.output}' if cfg.output else ''
            sys.exit(f'\ninterrupted after {done} of {len(files)} photos{kept}')
    if cfg.output:
        faces = sum(1 for row in rows if row.get('class'))
        print(f'{done} photos, {faces} faces: results written to {cfg.output}')
    if cfg.annotate and len(thumbnails) > 1:
        grid_path = os.path.join(cfg.annotate, free_name('grid.png', copies))
        photo_grid(thumbnails, grid_path)
        shown = f' (the first {GRID_PHOTOS} photos)' if len(copies) > GRID_PHOTOS else ''
        print(f'annotated photos written to {cfg.annotate}, their grid to {grid_path}{shown}')
    return rows


def _answer(path, name, cfg, net):
    """The CSV rows of one photo (one per face, or one saying why there is none), a line
    to print for each, its pixels (None when it cannot be read) and its faces."""
    try:
        rgb = load_rgb(path)
    except BadImage as e:
        return [{'file': name, 'error': str(e)}], [f'{name}: skipped: {e}'], None, []
    found = label_faces(rgb, cfg, net.probabilities_of, net.detector)
    if not found:
        return [{'file': name, 'error': 'no face found'}], [f'{name}: no face found'], rgb, found
    rows, lines = [], []
    for face in found:
        where = f'face {face.number} at {face.box_text}: ' if cfg.detect == 'on' else ''
        lines.append(f'{name}: {where}{face.text}')
        row = {'file': name, 'face': face.number, BOX_COLUMN: face.box_text,
               'class': face.label, 'probability': face.confidence,
               'uncertain': int(face.uncertain), 'error': ''}
        row.update({f'p_{c}': float(p) for c, p in zip(cfg.classes, face.probabilities)})
        rows.append(row)
    return rows, lines, rgb, found


def annotated_name(path, target, taken):
    """The annotated copy's name: the photo's path below the --image folder (its name for
    one file), '.jpg' added unless it ends so; a number added when this run has made a copy
    of that name already (a.png and a.png.jpg), so no copy is written over. Adds it to
    `taken`, with the folders it lies in."""
    rel = os.path.relpath(path, target) if os.path.isdir(target) else os.path.basename(path)
    name = free_name(rel if os.path.splitext(rel)[1].lower() in ('.jpg', '.jpeg')
                     else rel + '.jpg', taken)
    taken.add(name)
    parent = os.path.dirname(name)
    while parent:
        taken.add(parent)
        parent = os.path.dirname(parent)
    return name


def free_name(name, taken):
    """`name`, or `stem-2.ext`, `stem-3.ext`, ... the first not in `taken`."""
    stem, ext = os.path.splitext(name)
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        candidate = f'{stem}-{number}{ext}'
    return candidate


def annotate(rgb, labels, name, out_dir):
    """Writes a copy of the photo with a box and a label per face as `name` below
    `out_dir`; returns the copy."""
    paths.claim_folder(out_dir, ANNOTATED_MARKER, 'annotated photos of --mode=predict')
    image = draw_boxes(rgb, labels)
    target = os.path.join(out_dir, name)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    Image.fromarray(image).save(target, format='JPEG', quality=90)
    return image


def thumbnail(image, tile=GRID_TILE):
    """A grid tile's copy of an annotated photo (a folder's full-size photos would not fit
    in memory)."""
    thumb = Image.fromarray(image)
    thumb.thumbnail((tile, tile))
    return thumb


def photo_grid(thumbnails, path, tile=GRID_TILE, columns=5):
    """A grid of the annotated photos, each titled by its name and result."""
    from data.report_pictures import grid, labelled
    tiles = []
    for name, thumb in thumbnails:
        canvas = Image.new('RGB', (tile, tile), 'white')
        canvas.paste(thumb, ((tile - thumb.width) // 2, (tile - thumb.height) // 2))
        tiles.append(labelled(canvas, name, width=40))
    grid(tiles, columns).save(path)
