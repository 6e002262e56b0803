"""Pictures of a prepared dataset: photo sizes, accepted faces per class, rejected photos."""
import os
import random
import textwrap

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from data.images import BadImage, load_rgb  # noqa: E402

TILE = 96


def size_histogram(results, path):
    """Histogram of the photos' short and long sides (the 2020 team's size plot)."""
    sizes = np.array([(min(r['width'], r['height']), max(r['width'], r['height']))
                      for _, r in results if r.get('width')])
    fig, ax = plt.subplots(figsize=(7, 4))
    if len(sizes):
        bins = np.linspace(0, sizes.max() * 1.05, 30)
        ax.hist(sizes[:, 0], bins=bins, alpha=0.6, label='short side')
        ax.hist(sizes[:, 1], bins=bins, alpha=0.6, label='long side')
        ax.legend()
    ax.set_xlabel('pixels')
    ax.set_ylabel('photos')
    ax.set_title(f'Photo sizes ({len(sizes)} decoded photos)')
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def labelled(tile, text, height=24, width=16):
    """Tile with `text` written under it."""
    canvas = Image.new('RGB', (tile.width, tile.height + height), 'white')
    canvas.paste(tile, (0, 0))
    draw = ImageDraw.Draw(canvas)
    for i, line in enumerate(textwrap.wrap(text, width)[:2]):
        draw.text((2, tile.height + 1 + 11 * i), line, fill='black')
    return canvas


def grid(tiles, columns):
    if not tiles:
        tiles = [labelled(Image.new('RGB', (TILE, TILE), 'lightgray'), 'none')]
    w, h = tiles[0].size
    rows = -(-len(tiles) // columns)
    sheet = Image.new('RGB', (columns * (w + 2), rows * (h + 2)), 'white')
    for k, tile in enumerate(tiles):
        sheet.paste(tile, ((k % columns) * (w + 2), (k // columns) * (h + 2)))
    return sheet


def accepted_sheet(kept, cache_dir, classes, path, seed=0, per_class=10):
    """One row per class of random accepted faces."""
    rng = random.Random(seed)
    tiles = []
    for cls in classes:
        faces = [r for it, r in kept if it.label_name == cls]
        picks = rng.sample(faces, min(per_class, len(faces)))
        for k in range(per_class):
            if k < len(picks):
                face = Image.open(os.path.join(cache_dir, picks[k]['crop'])).convert('RGB')
                tiles.append(labelled(face.resize((TILE, TILE)), cls))
            else:
                tiles.append(labelled(Image.new('RGB', (TILE, TILE), 'white'), ''))
    grid(tiles, per_class).save(path)


def rejected_sheet(results, path, seed=0, count=30):
    """Random rejected photos with their reasons."""
    rejected = [(it, r) for it, r in results if r['status'] == 'rejected']
    picks = random.Random(seed).sample(rejected, min(count, len(rejected)))
    tiles = []
    for item, result in picks:
        try:
            photo = Image.fromarray(load_rgb(item.path))
            photo.thumbnail((TILE, TILE))
            tile = Image.new('RGB', (TILE, TILE), 'white')
            tile.paste(photo, ((TILE - photo.width) // 2, (TILE - photo.height) // 2))
        except BadImage:
            tile = Image.new('RGB', (TILE, TILE), 'lightgray')
        tiles.append(labelled(tile, result['reason']))
    grid(tiles, 10).save(path)


def subjects_sheet(results, path, seed=0, count=30):
    """Photos with several faces, the face kept boxed green, the others red (a photo whose
    largest face was not clearly the subject shows them all red)."""
    several = [(it, r) for it, r in results if len(r['values'].get('boxes', [])) > 1]
    picks = random.Random(seed).sample(several, min(count, len(several)))
    tiles = []
    for item, result in picks:
        try:
            photo = Image.fromarray(load_rgb(item.path))
        except BadImage:
            continue
        draw = ImageDraw.Draw(photo)
        width = max(2, max(photo.size) // 150)
        for k, (x, y, w, h) in enumerate(result['values']['boxes']):
            kept = k == 0 and result['status'] == 'accepted'
            draw.rectangle([x, y, x + w, y + h], outline='lime' if kept else 'red', width=width)
        photo.thumbnail((TILE * 2, TILE * 2))
        tile = Image.new('RGB', (TILE * 2, TILE * 2), 'white')
        tile.paste(photo, ((tile.width - photo.width) // 2, (tile.height - photo.height) // 2))
        text = 'kept the green face' if result['status'] == 'accepted' else result['reason']
        tiles.append(labelled(tile, text, height=24, width=32))
    grid(tiles, 6).save(path)
