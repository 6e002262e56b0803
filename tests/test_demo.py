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


def test_a_request_decodes_at_most_the_demos_pixels_before_decoding(tmp_path):
    """A 300 KB PNG of 98 MP (under the general 100 MP limit) cost 3.3 GB a request."""
    from PIL import Image
    wide = tmp_path / 'wide.png'
    Image.new('L', (6000, 5000)).save(wide)                 # 30 MP of black, a few KB
    with pytest.raises(demo.BadImage, match='30 MP, limit 25 MP'):
        demo.check_upload(str(wide), limit_mb=10)


@pytest.mark.parametrize('flags, named', [(['--host=no-such-host.invalid'], '--host='),
                                          (['--host=192.0.2.7'], '--host='),
                                          (['--port=0'], '--port')])
def test_a_host_or_port_that_cannot_serve_is_named_before_the_model_loads(flags, named):
    from conftest import refused, run_runner
    refused(run_runner('--mode=demo', *flags, check=False), named)


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
    assert page.feature_maps(a_portrait(), 'conv1')[2].startswith('Feature maps need the checkpoint')
    assert 'exported from checkpoint' in page.about()


