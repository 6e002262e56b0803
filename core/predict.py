"""--mode=predict: the class of every face in a photo or a folder of photos.

    python runner.py --net=nn_gender --mode=predict --image=photos/ --output=results.csv --annotate=out/

One line per face, `photo: face 1 at x,y,w,h: female 97.3%` (a box's left, top, width
and height in the photo's pixels), or why a photo has none; the CSV has the same.
"""
import csv
import os

from PIL import Image

from core import calibration
from core.inference import ImageModel, draw_boxes, label_faces, list_images
from data.images import BadImage, load_rgb

BOX_COLUMN = 'box_x_y_w_h'


def predict(cfg):
    files = list_images(cfg.image)
    net = ImageModel(cfg)
    warning = calibration.warning_for(net.checkpoint, cfg.eval_flip)
    if warning and not cfg.int8_model:
        print(f'note: {warning}: the percentages below may be overconfident', flush=True)
    rows, annotated = [], []
    for path in files:
        try:
            rgb = load_rgb(path)
        except BadImage as e:
            print(f'{path}: skipped: {e}', flush=True)
            rows.append({'file': path, 'error': str(e)})
            continue
        found = label_faces(rgb, cfg, net.probabilities_of)
        if not found:
            print(f'{path}: no face found', flush=True)
            rows.append({'file': path, 'error': 'no face found'})
        for face in found:
            where = f'face {face.number} at {face.box_text}: ' if cfg.detect == 'on' else ''
            print(f'{path}: {where}{face.text}', flush=True)
            row = {'file': path, 'face': face.number, BOX_COLUMN: face.box_text,
                   'class': face.label, 'probability': face.confidence,
                   'uncertain': int(face.uncertain), 'error': ''}
            row.update({f'p_{name}': float(p) for name, p in zip(cfg.classes, face.probabilities)})
            rows.append(row)
        if cfg.annotate:
            title = ', '.join(face.short for face in found) or 'no face found'
            image = annotate(rgb, [(face.box, face.short) for face in found], path, cfg.annotate)
            annotated.append((f'{os.path.basename(path)}: {title}', image))
    if cfg.output:
        columns = ['file', 'face', BOX_COLUMN, 'class', 'probability', 'uncertain'] + [
            f'p_{c}' for c in cfg.classes] + ['error']
        with open(cfg.output, 'w', newline='') as f:
            writer = csv.DictWriter(f, columns, restval='')
            writer.writeheader()
            writer.writerows(rows)
        print(f'{len(rows)} results written to {cfg.output}')
    if cfg.annotate and len(annotated) > 1:
        photo_grid(annotated, os.path.join(cfg.annotate, 'grid.png'))
        print(f'annotated photos and their grid written to {cfg.annotate}')
    return rows


def annotate(rgb, labels, path, out_dir):
    """Writes a copy of the photo with a box and a label per face; returns the copy."""
    os.makedirs(out_dir, exist_ok=True)
    image = draw_boxes(rgb, labels)
    stem = os.path.splitext(os.path.basename(path))[0]
    Image.fromarray(image).save(os.path.join(out_dir, f'{stem}.jpg'), quality=90)
    return image


def photo_grid(annotated, path, tile=240, columns=5):
    """A grid of the annotated photos, each titled by its name and result."""
    from data.report_pictures import grid, labelled
    tiles = []
    for name, image in annotated:
        thumb = Image.fromarray(image)
        thumb.thumbnail((tile, tile))
        canvas = Image.new('RGB', (tile, tile), 'white')
        canvas.paste(thumb, ((tile - thumb.width) // 2, (tile - thumb.height) // 2))
        tiles.append(labelled(canvas, name, width=40))
    grid(tiles, columns).save(path)
