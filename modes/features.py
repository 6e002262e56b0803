"""--mode=features: what each conv layer of the network makes of the face in a photo.

    python runner.py --net=nn_gender --mode=features --image=face.jpg --output=maps/
"""
import os

import numpy as np

import networks
from core.evaluate import visualize
from core.store import released
from core.serve.inference import ImageModel, label_faces, list_images
from data.images import BadImage, load_rgb


def run(cfg):
    files = list_images(cfg.image)
    if len(files) != 1:
        raise FileNotFoundError('--mode=features takes one image file in --image')
    path = files[0]
    try:                        # before the model is built: a bad file is one line at once
        rgb = load_rgb(path)
    except BadImage as e:
        raise FileNotFoundError(f'--image={path}: {e}') from None
    net = ImageModel(cfg)
    found = label_faces(rgb, cfg, net.probabilities_of)
    if not found:
        raise FileNotFoundError(f'{path}: no face found (use --detect=off for a face crop)')
    net_input, layers, _ = net.layers_of(found[0].face)
    stem = os.path.splitext(os.path.basename(path))[0]
    out_dir = cfg.output or os.path.join(released.work_folder(cfg.train_dir), 'features', stem)
    os.makedirs(out_dir, exist_ok=True)
    visualize.save_grid((net_input + 1.0) / 2.0, os.path.join(out_dir, '00_input.png'))
    np.save(os.path.join(out_dir, '00_input.npy'), net_input)
    written = {'00_input.png': net_input.shape}
    conv_layers = [name for name, v in layers.items() if v.ndim == 3 and name.startswith('conv')]
    for i, name in enumerate(conv_layers, start=1):
        base = f'{i:02d}_{name}'
        visualize.save_grid(layers[name], os.path.join(out_dir, f'{base}.png'))
        np.save(os.path.join(out_dir, f'{base}.npy'), layers[name])
        written[f'{base}.png'] = layers[name].shape
    if networks.get(cfg.net).is_gan:     # a discriminator's logits are realness, not classes
        print(f'{path}: the discriminator\'s realness (> 0 reads as real) as ' + ', '.join(
            f'{name} {score:+.2f}' for name, score in zip(cfg.classes, layers['logits'])))
    else:
        print(f'{path}: {found[0].text}')
    print(f'feature maps of {len(conv_layers)} layers (+ the input) written to {out_dir}:')
    for name, shape in written.items():
        print(f'  {name}  {shape}')
    return {'dir': out_dir, 'files': list(written)}
