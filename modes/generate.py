"""--mode=generate: faces of a class made by a trained generator pair; the same seed
makes the same faces.

    python runner.py --net=dcgan --mode=generate --label=female --count=16 --seed=7
    -> checkpoints/dcgan/generated/female-seed7.png (the grid) and female-seed7-01.png ...
"""
import os

from core import gan
from core.serve.generate import FaceGenerator, label_index

GRID_COLUMNS = 8


def run(cfg):
    from PIL import Image
    labels = [cfg.classes[label_index(cfg, cfg.label)]] if cfg.label else list(cfg.classes)
    seed = cfg.seed if cfg.seed is not None else gan.random_seed()
    maker = FaceGenerator(cfg)
    out_dir = cfg.output or os.path.join(cfg.train_dir, 'generated')
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for label in labels:
        faces = maker.make(label, cfg.count, seed)
        stem = os.path.join(out_dir, f'{label}-seed{seed}')
        Image.fromarray(gan.tile(faces, min(GRID_COLUMNS, cfg.count))).save(stem + '.png')
        for i, face in enumerate(faces, start=1):
            Image.fromarray(face).save(f'{stem}-{i:02d}.png')
        written.append(stem + '.png')
        print(f'{cfg.count} {label} faces (seed {seed}): {stem}.png and '
              f'{os.path.basename(stem)}-01..{cfg.count:02d}.png')
    print(f'from {maker.checkpoint}; the same --seed={seed} makes the same faces')
    return {'grids': written, 'seed': seed, 'dir': out_dir}
