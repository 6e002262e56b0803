"""Nothing a user owns is written over, every input is bounded, damaged files are one line:
real files and real processes, made by the tests from shared photos and the released model."""
import os
import shutil
import socket
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, SHARED, UTKFACE, need_shared, refused, run_cli
from core.store.released import DEFAULT

PORTRAITS = os.path.join(SHARED, 'datasets', 'portraits')
RELEASED = os.path.join(REPO, 'models', DEFAULT)


def portrait(kind='woman', index=0):
    folder = os.path.join(need_shared(PORTRAITS), kind)
    return os.path.join(folder, sorted(os.listdir(folder))[index])


def digest(folder):
    return {p: open(os.path.join(folder, p), 'rb').read() for p in sorted(os.listdir(folder))}


# 1. Predict's outputs never land on a photo, and annotated copies never collide.

@pytest.fixture
def photos(tmp_path):
    """A user's folder: man/x.jpg and woman/x.jpg (one name, two people), and one photo
    saved as .png, .bmp and .webp."""
    root = tmp_path / 'photos'
    for kind in ('man', 'woman'):
        (root / kind).mkdir(parents=True)
        shutil.copy(portrait(kind), root / kind / 'x.jpg')
    image = Image.open(portrait('woman', 1)).convert('RGB')
    image.thumbnail((400, 400))
    for ext in ('png', 'bmp', 'webp'):
        image.save(root / f'photo.{ext}')
    return root


def test_predict_refuses_an_output_that_is_or_lies_in_its_input(trained, photos, tmp_path):
    before = {p: p.read_bytes() for p in photos.rglob('*') if p.is_file()}
    model = f'--train_dir={trained["train_dir"]}'
    one = photos / 'man' / 'x.jpg'
    for flags in ([f'--image={one}', f'--output={one}'],
                  [f'--image={photos}', f'--annotate={photos / "boxed"}'],
                  [f'--image={one}', f'--output={photos / "photo.png"}']):
        line = refused(run_cli('runner.py', '--mode=predict', model, *flags, check=False))
        assert line.startswith(('error: --output=', 'error: --annotate=')), line
    assert {p: p.read_bytes() for p in photos.rglob('*') if p.is_file()} == before


def test_annotated_copies_never_write_over_each_other_nor_the_grid(trained, photos, tmp_path):
    """a.png and a.png.jpg, noext and noext.jpg once left one copy each; a subfolder named
    grid.png ended all the work in 'Is a directory'."""
    for name in ('photo.png.jpg', 'noext', 'noext.jpg'):
        shutil.copy(photos / 'photo.png', photos / name)
    (photos / 'grid.png').mkdir()
    shutil.copy(photos / 'photo.png', photos / 'grid.png' / 'y.jpg')
    boxed = tmp_path / 'boxed'
    proc = run_cli('runner.py', '--mode=predict', f'--train_dir={trained["train_dir"]}',
                   f'--image={photos}', f'--annotate={boxed}')
    made = [p for p in boxed.rglob('*') if p.is_file() and not p.name.startswith('.')]
    photos_in = [p for p in photos.rglob('*') if p.is_file()]
    grids = [p for p in made if p.suffix == '.png']
    assert len(made) == len(photos_in) + 1 and len(grids) == 1, sorted(map(str, made))
    assert str(grids[0]) in proc.stdout


def test_annotated_copies_keep_their_paths_and_an_output_is_replaced_only_if_ours(
        trained, photos, tmp_path):
    model = f'--train_dir={trained["train_dir"]}'
    out, boxed = tmp_path / 'results.csv', tmp_path / 'boxed'
    args = ('runner.py', '--mode=predict', model, f'--image={photos}', f'--output={out}',
            f'--annotate={boxed}')
    proc = run_cli(*args)
    made = sorted(str(p.relative_to(boxed)) for p in boxed.rglob('*') if p.is_file()
                  and not p.name.startswith('.'))
    assert made == ['grid.png', 'man/x.jpg', 'photo.bmp.jpg', 'photo.png.jpg', 'photo.webp.jpg',
                    'woman/x.jpg'], made
    assert proc.stdout.strip().splitlines()[-2].startswith('5 photos, ')
    run_cli(*args)                                  # its own outputs: written again
    mine = tmp_path / 'notes.txt'
    mine.write_text('my notes\n')
    refused(run_cli(*args[:-2], f'--output={mine}', check=False), f'--output={mine}')
    assert mine.read_text() == 'my notes\n'
    (tmp_path / 'album').mkdir()
    (tmp_path / 'album' / 'holiday.jpg').write_bytes(b'mine')
    refused(run_cli(*args[:-2], f'--annotate={tmp_path / "album"}', check=False), '--annotate=')
    assert (tmp_path / 'album' / 'holiday.jpg').read_bytes() == b'mine'


# 2. The demo's webcam endpoint takes the limits of uploads; a port in use names --port.

def png_claiming(width, height):
    """A small valid PNG whose header says width x height: what a decompression bomb shows
    before it is decoded."""
    import io
    buffer = io.BytesIO()
    Image.new('RGB', (16, 16)).save(buffer, format='PNG')
    data = bytearray(buffer.getvalue())
    ihdr = 8 + 8                                        # signature, chunk length and type
    data[ihdr:ihdr + 8] = struct.pack('>II', width, height)
    crc = zlib.crc32(bytes(data[ihdr - 4:ihdr + 13]))
    data[ihdr + 13:ihdr + 17] = struct.pack('>I', crc)
    return bytes(data)


def test_the_webcam_snapshot_is_checked_like_an_upload_before_decoding(trained, tmp_path,
                                                                       monkeypatch):
    """Through Gradio's own handling of the event (not our method alone): a bomb, junk and a
    photo, each as an uploaded file and as a data URL; one line on the page for the refused."""
    import asyncio
    import base64
    from modes import demo
    from core import config
    monkeypatch.setenv('GRADIO_TEMP_DIR', str(tmp_path))
    monkeypatch.setattr(Image, 'MAX_IMAGE_PIXELS', Image.MAX_IMAGE_PIXELS)
    demo.bound_decoding()                               # as the server runs
    cfg = config.resolve({'mode': 'demo', 'train_dir': trained['train_dir']}, explicit=set())
    page = demo.build_page(demo.Demo(cfg))
    event = next(fn for fn in page.fns.values() if fn.fn.__name__ == 'snapshot')

    def sent(payload):
        out = asyncio.run(page.process_api(block_fn=event, inputs=[payload], state=None,
                                           explicit_call=True))
        image, table, note = out['data']
        return image, table['data'], note

    def as_file(data, name):
        (tmp_path / name).write_bytes(data)
        return {'path': str(tmp_path / name), 'meta': {'_type': 'gradio.FileData'}}

    def as_url(data):
        return {'url': 'data:image/png;base64,' + base64.b64encode(data).decode(),
                'path': None, 'meta': {'_type': 'gradio.FileData'}}

    bomb, junk = png_claiming(20000, 20000), b'not a picture at all\n' * 10
    photo = open(portrait(), 'rb').read()
    for payload in (as_file(bomb, 'bomb.png'), as_url(bomb)):
        assert sent(payload) == (None, [], '**snapshot**: too large: 400 MP (limit 25 MP); '
                                           'refused before decoding')
    for payload in (as_file(junk, 'junk.png'), as_url(junk)):
        image, rows, note = sent(payload)
        assert image is None and rows == [] and note == '**snapshot**: a text file, not an image'
    for payload in (as_file(photo, 'me.jpg'), as_url(photo)):
        image, rows, note = sent(payload)
        assert image is not None and rows[0][0] == 'webcam' and 'face(s) in' in note
    assert not list(tmp_path.glob('*' + demo.SENT_SUFFIX))     # a client's bytes not kept


def test_a_demo_port_in_use_is_one_line_naming_the_flag(trained):
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen()
        port = taken.getsockname()[1]
        refused(run_cli('runner.py', '--mode=demo', '--host=127.0.0.1', f'--port={port}',
                        f'--train_dir={trained["train_dir"]}', check=False), f'--port={port}')


# 5. Damaged model files: one line naming the file.

@pytest.fixture
def damaged_models(tmp_path):
    """A copy of models/ whose released model is damaged by `damage(folder)`."""
    def make(damage):
        models = tmp_path / f'models{len(list(tmp_path.iterdir()))}'
        shutil.copytree(RELEASED, models / DEFAULT)
        damage(models / DEFAULT)
        return models
    return make


def run_with_models(models, *args):
    """`runner.py <args>` (in this process, as run_cli runs it) with `models` as the
    released models' folder, as FACECNN_MODELS sets it for a process of its own."""
    from core.store import released
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(released, 'MODELS_DIR', str(models))
        return run_cli('runner.py', *args, check=False)


def truncate_weights(folder):
    data = folder / 'model.ckpt.data-00000-of-00001'
    data.write_bytes(data.read_bytes()[:data.stat().st_size // 2])


def truncate(name):
    def damage(folder):
        data = folder / name
        data.write_bytes(data.read_bytes()[:data.stat().st_size // 2])
    return damage


def test_damaged_released_files_are_one_line_naming_the_file(damaged_models, tmp_path):
    face = portrait()
    # (damage, the file named, the backend that reads it: the checkpoint's files through
    # TensorFlow, lite/'s without)
    damages = [(truncate_weights, 'model.ckpt', 'tf'),
               (lambda f: (f / 'run.json').write_text('{"net": "cnn60",'), 'run.json', 'auto'),
               (lambda f: (f / 'calibration_flip.json').write_text('T=1.3'),
                'calibration_flip.json', 'tf'),    # the one it reads: it answers with the mirror
               (lambda f: (f / 'checkpoint').write_bytes(b'\x00\x01garbage{{'), 'checkpoint', 'tf'),
               (lambda f: (f / 'run.json').write_text('[]'), 'run.json', 'auto'),
               (truncate('lite/classifier.tflite'), 'lite/classifier.tflite', 'auto'),
               (truncate('lite/onet.tflite'), 'lite/onet.tflite', 'auto'),
               (lambda f: (f / 'lite' / 'lite.json').write_text('{"classes'), 'lite/lite.json',
                'auto')]
    for damage, name, backend in damages:
        models = damaged_models(damage)
        refused(run_with_models(models, '--mode=predict', f'--image={face}',
                                f'--backend={backend}'),
                os.path.join(DEFAULT, name))
    # Fine-tuning from damaged weights stops before the new folder is made.
    models = damaged_models(truncate_weights)
    mine = tmp_path / 'mine'
    refused(run_with_models(models, f'--init_from={DEFAULT}', f'--data_dir={UTKFACE}',
                            '--layout=utkface', f'--train_dir={mine}'), DEFAULT)
    assert not mine.exists()


@pytest.mark.parametrize('text', ['[]', '"x"', '{}', '{"net": "cnn60"}'])
def test_a_run_record_of_the_wrong_shape_is_damaged_and_named(tmp_path, text):
    from common import jsonfile
    from core.store import runs
    (tmp_path / 'run.json').write_text(text)
    with pytest.raises(jsonfile.Damaged, match=f'^{tmp_path / "run.json"} is damaged'):
        runs.read(str(tmp_path))


@pytest.mark.parametrize('temperature', ['0', '-1', 'NaN', 'Infinity', '"abc"', 'true', 'null'])
def test_a_temperature_that_is_not_a_positive_number_is_damaged_not_uncalibrated(
        tmp_path, temperature):
    """A temperature of 0, -1 or NaN was read as 'not calibrated (no evaluation yet)'."""
    from common import jsonfile
    from core.evaluate import calibration
    (tmp_path / 'calibration.json').write_text(
        f'{{"checkpoint": "model.ckpt", "temperature": {temperature}}}')
    with pytest.raises(jsonfile.Damaged, match='calibration.json is damaged: its temperature'):
        calibration.record_for(str(tmp_path / 'model.ckpt'))


@pytest.mark.parametrize('name', ['text.jpg', 'bomb.png'])
def test_features_of_a_file_that_is_no_usable_image_is_one_line(trained, name):
    bad = os.path.join(need_shared(os.path.join(SHARED, 'bad_inputs')), name)
    refused(run_cli('runner.py', '--mode=features', f'--train_dir={trained["train_dir"]}',
                    f'--image={bad}', check=False), name)


def test_an_int8_model_flag_naming_another_file_is_one_line(trained, tmp_path):
    junk = tmp_path / 'model_int8.tflite'
    junk.write_text('not a model')
    refused(run_cli('runner.py', '--mode=predict', f'--train_dir={trained["train_dir"]}',
                    f'--int8_model={junk}', f'--image={portrait()}', check=False), str(junk))


def test_a_checkpoint_list_naming_weights_outside_its_folder_is_named(trained, tmp_path):
    """It was read as 'no checkpoint, train first'."""
    run = tmp_path / 'run'
    run.mkdir()
    shutil.copy(os.path.join(trained['train_dir'], 'run.json'), run / 'run.json')
    (run / 'checkpoint').write_text('model_checkpoint_path: "/elsewhere/model.ckpt-5"\n')
    refused(run_cli('runner.py', '--mode=predict', f'--train_dir={run}',
                    f'--image={portrait()}', check=False), '/elsewhere/model.ckpt-5')


def test_a_checkpoint_flag_naming_another_file_says_it_is_not_a_checkpoint(trained, tmp_path):
    other = tmp_path / 'notes.txt'
    other.write_text('hello')
    refused(run_cli('runner.py', '--mode=predict', f'--image={portrait()}',
                    f'--train_dir={trained["train_dir"]}', f'--checkpoint={other}', check=False),
            f'--checkpoint={other}')


# 6. FairFace CSVs as people save them.

def fairface_csv(folder, rows, name='labels.csv', encoding='utf-8', bom=False):
    """A FairFace label CSV in `folder`, its photos UTKFace chips copied beside it."""
    chips = sorted(os.listdir(need_shared(UTKFACE)))
    (folder / 'train').mkdir(parents=True, exist_ok=True)
    lines = ['file,age,gender,race,service_test']
    for i, (gender, race) in enumerate(rows):
        shutil.copy(os.path.join(UTKFACE, chips[i]), folder / 'train' / f'{i}.jpg')
        lines.append(f'train/{i}.jpg,20-29,{gender},{race},True')
    path = folder / name
    path.write_bytes(('\ufeff' if bom else '').encode(encoding) + '\n'.join(lines).encode(encoding)
                     + b'\n')
    return path


def test_fairface_csvs_with_a_bom_odd_labels_escaping_paths_or_latin1(tmp_path):
    from data import sources
    rows = [('Male', 'White'), ('Female ', 'Black'), ('M', 'Indian'), ('female', 'Latino_Hispanic')]
    path = fairface_csv(tmp_path / 'a', rows, bom=True)
    with open(path, 'a') as f:
        f.write('/etc/passwd,20-29,Male,White,True\n../outside.jpg,20-29,Male,White,True\n')
    (tmp_path / 'outside.jpg').write_bytes(open(portrait(), 'rb').read())
    items, classes, unusable = sources.list_items(str(path), 'fairface')
    assert sorted(it.rel for it in items) == ['train/0.jpg', 'train/1.jpg', 'train/3.jpg']
    assert {it.rel: it.label_name for it in items}['train/1.jpg'] == 'female'
    reasons = dict(unusable)
    assert reasons[str(path.parent / 'train' / '2.jpg')].startswith('unknown gender')
    assert reasons['/etc/passwd'] == reasons['../outside.jpg'] == "the path leaves the CSV's folder"
    latin = fairface_csv(tmp_path / 'b', [('Male', 'White')], encoding='latin-1')
    latin.write_bytes(latin.read_bytes().replace(b'service_test', b'service_t\xe9st'))
    with pytest.raises(ValueError, match=f'^{latin} .*UTF-8'):
        sources.list_items(str(latin), 'fairface')


def test_a_csv_with_no_usable_row_says_why_in_one_line(tmp_path):
    path = fairface_csv(tmp_path, [('M', 'White'), ('F', 'Black')])
    refused(run_cli('-m', 'data.prepare', f'--src={path}', '--layout=fairface',
                    f'--out={tmp_path / "out"}', check=False), path, f'{tmp_path}/train/0.jpg', "'M'")


# 7. A prepared cache knows its source. 10. A cached re-preparation is quiet.

def test_a_cache_of_another_source_of_the_same_name_is_refused(trained, tmp_path):
    rows = [('Male', 'White'), ('Female', 'Black'), ('Male', 'Asian'), ('Female', 'Indian')]
    first = fairface_csv(tmp_path / 'a', rows, name='good.csv')
    Image.new('RGB', (200, 200), 'grey').save(first.parent / 'train' / '3.jpg')   # no face
    second = fairface_csv(tmp_path / 'b', rows[:2], name='good.csv')
    work = tmp_path / 'work'
    work.mkdir()

    def prepare(src):
        import subprocess
        import sys
        return subprocess.run([sys.executable, '-m', 'data.prepare', f'--src={src}',
                               '--layout=fairface', '--out=records/good.csv'], cwd=work,
                              env=dict(os.environ, PYTHONPATH=REPO), capture_output=True,
                              text=True, timeout=300)
    done = prepare(first)
    assert done.returncode == 0 and 'reject train/3.jpg: no face found' in done.stdout, done
    again = prepare(first)
    assert again.returncode == 0 and 'reject ' not in again.stdout, again.stdout
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, os.path.join(REPO, 'runner.py'), '--mode=eval',
                           '--layout=fairface', f'--data_dir={second}',
                           f'--train_dir={trained["train_dir"]}'], cwd=work,
                          env=dict(os.environ, PYTHONPATH=REPO), capture_output=True, text=True,
                          timeout=300)
    refused(proc, 'records/good.csv', first, second)


# 8. A face upside down in the photo is turned upright, in preparation and in predict.

def test_an_upside_down_face_is_turned_upright_in_both_paths():
    """Aligned from the photo turned by 180 degrees, the face is the upright one's (a few
    grey levels apart), not its mirror image upside down."""
    from core import config
    from core.serve.inference import find_faces
    from data import prepare
    from data.images import load_rgb
    rgb = load_rgb(portrait('woman', 3))        # found upside down with confidence >= 0.9
    turned = np.ascontiguousarray(rgb[::-1, ::-1])
    settings = prepare.FaceSettings()
    upright, _, _ = prepare.face_crop(rgb, settings)
    cfg = config.RunConfig(detect='on', face_size=settings.face_size, margin=0.0,
                           smallest_face=48)
    for face in (prepare.face_crop(turned, settings)[0],
                 max(find_faces(turned, cfg), key=lambda f: f[0][2])[1]):
        same = np.abs(face.astype(float) - upright).mean()
        flipped = np.abs(face[::-1, ::-1].astype(float) - upright).mean()
        assert same < 20 and same < flipped / 2, (same, flipped)
