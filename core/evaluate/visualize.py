"""Feature maps as PNG grids: one tile per channel, each tile scaled to its own range."""
import math

import numpy as np
from PIL import Image


def feature_grid(maps, tile=64, pad=2):
    """[H, W, C] activations -> uint8 grayscale grid image of C tiles."""
    maps = np.asarray(maps, dtype=np.float32)
    channels = maps.shape[-1]
    cols = math.ceil(math.sqrt(channels))
    rows = math.ceil(channels / cols)
    scale = max(1, tile // max(maps.shape[0], maps.shape[1]))
    th, tw = maps.shape[0] * scale, maps.shape[1] * scale
    grid = np.full((rows * (th + pad) + pad, cols * (tw + pad) + pad), 255, np.uint8)
    for c in range(channels):
        m = maps[:, :, c]
        lo, hi = float(m.min()), float(m.max())
        norm = (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
        tile_img = np.kron((norm * 255).astype(np.uint8), np.ones((scale, scale), np.uint8))
        r, k = divmod(c, cols)
        y, x = pad + r * (th + pad), pad + k * (tw + pad)
        grid[y:y + th, x:x + tw] = tile_img
    return grid


def save_grid(maps, path):
    Image.fromarray(feature_grid(maps)).save(path)
