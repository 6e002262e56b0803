"""The demo's work without the page: upload checks and serving an exported SavedModel."""
import os
import re

import pytest

from modes import demo
from conftest import SHARED, need_shared

PORTRAITS = os.path.join(SHARED, 'datasets', 'portraits')


def a_portrait():
    folder = os.path.join(need_shared(PORTRAITS), 'woman')
    return os.path.join(folder, sorted(os.listdir(folder))[0])


def test_uploads_over_the_size_limit_are_refused_before_decoding(tmp_path):
    big = tmp_path / 'big.jpg'
    big.write_bytes(b'\xff\xd8' + bytes(3 * 2**20))
    with pytest.raises(demo.BadImage, match=r'3\.0 MB.*2 MB'):
        demo.check_upload(str(big), limit_mb=2)


def test_the_demo_serves_an_exported_saved_model(trained, tmp_path):
    from conftest import run_cli
    from core import config
    export_dir = tmp_path / 'export'
    run_cli('runner.py', '--mode=export', f'--train_dir={trained["train_dir"]}',
            f'--export_dir={export_dir}')
    cfg = config.resolve({'mode': 'demo', 'saved_model': str(export_dir),
                          'train_dir': str(tmp_path / 'none')}, explicit={'saved_model'})
    page = demo.Demo(cfg)
    gallery, rows, note = page.photos([a_portrait()])
    assert rows and re.search(r'(male|female) \d+\.\d%', rows[0][2]), rows
    # The whole photo fitted to the view, then each face with its label.
    photo, caption = gallery[0]
    assert max(photo.shape[:2]) <= demo.PHOTO_SIDE and caption.endswith(f'{len(rows)} face(s)')
    assert len(gallery) == 1 + len(rows) and gallery[1][1].endswith(rows[0][2])
    assert max(gallery[1][0].shape[:2]) == demo.FACE_SIDE
    assert page.feature_maps(a_portrait(), 'conv1')[2].startswith('Feature maps need a checkpoint')
    assert 'exported from checkpoint' in page.about()


