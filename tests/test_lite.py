"""Answers without TensorFlow: a released model's lite/ files (the classifier and MTCNN's
three stages as TFLite) give the TensorFlow path's faces and classes, and predict on them
imports no TensorFlow at all."""
import csv
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, SHARED, need_shared, refused, run_cli
from core.store.released import DEFAULT

PORTRAITS = os.path.join(SHARED, 'datasets', 'portraits')
RELEASED = os.path.join(REPO, 'models', DEFAULT)
# Runs runner.py as a user does and says, on its last line, whether TensorFlow was imported.
WATCHED = ('import atexit, runpy, sys\n'
           'atexit.register(lambda: print("tensorflow imported:", "tensorflow" in sys.modules))\n'
           'sys.argv = ["runner.py"] + sys.argv[1:]\n'
           f'runpy.run_path({os.path.join(REPO, "runner.py")!r}, run_name="__main__")\n')


def watched(*args, models=None, cwd=REPO):
    env = dict(os.environ, PYTHONPATH=REPO)
    if models:
        env['FACECNN_MODELS'] = str(models)
    return subprocess.run([sys.executable, '-c', WATCHED, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def a_portrait():
    folder = os.path.join(need_shared(PORTRAITS), 'woman')
    return os.path.join(folder, sorted(os.listdir(folder))[0])


def test_predict_on_the_released_model_imports_no_tensorflow():
    proc = watched('--mode=predict', f'--image={a_portrait()}')
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-1] == 'tensorflow imported: False', proc.stdout
    assert proc.stderr == '', proc.stderr          # LiteRT's delegate line too is hidden
    assert any(': face 1 at ' in line for line in lines), proc.stdout


@pytest.mark.slow
def test_eval_of_a_photo_folder_imports_no_tensorflow_and_agrees_with_it(tmp_path):
    """Eight portraits prepared and judged from the released model's lite/ files without
    TensorFlow (preparation too), every face judged; the same figures through TensorFlow."""
    photos = tmp_path / 'photos'
    for kind in ('man', 'woman'):
        src = os.path.join(need_shared(PORTRAITS), kind)
        os.makedirs(photos / kind)
        for name in sorted(os.listdir(src))[:4]:
            shutil.copy(os.path.join(src, name), photos / kind / name)
    args = ('--mode=eval', f'--data_dir={photos}', f'--prepared_dir={tmp_path / "faces"}')
    reports = []
    for backend, imported in (('lite', 'False'), ('tf', 'True')):
        proc = watched(*args, f'--backend={backend}', cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.splitlines()[-1] == f'tensorflow imported: {imported}', proc.stdout
        reports.append(json.loads((tmp_path / 'runs' / DEFAULT / 'eval_faces.json')
                                  .read_text()))
    lite, tf = reports
    faces = json.loads((tmp_path / 'faces' / 'dataset.json').read_text())
    assert lite['count'] == sum(s['count'] for s in faces['splits'].values())
    assert lite['confusion_matrix'] == tf['confusion_matrix']
    assert lite['calibration']['nll_before'] == pytest.approx(tf['calibration']['nll_before'],
                                                               abs=0.01)


@pytest.mark.parametrize('args, named', [
    (('--mode=predict', '--image=no/such/photo.jpg'), '--image=no/such/photo.jpg'),
    (('--mode=predict', '--image=README.md', '--backend=gpu'), '--backend'),
    (('--mode=predict', '--image=README.md', '--port=80'), '--port'),
    (('--net=no_such_net', '--data_dir=README.md'), '--net=no_such_net')])
def test_a_refused_flag_is_one_line_without_tensorflow(args, named):
    proc = watched(*args)
    assert proc.stdout.splitlines()[-1] == 'tensorflow imported: False', proc.stdout
    refused(proc, named)


@pytest.mark.slow
def test_backend_tf_and_lite_agree_on_the_shared_portraits(tmp_path):
    """Every portrait: the same faces (boxes to the pixel), the same class, probabilities
    within 0.01 on average (docs/measurements.md has FairFace's figures)."""
    rows = {}
    for backend in ('tf', 'lite'):
        out = tmp_path / f'{backend}.csv'
        run_cli('runner.py', '--mode=predict', f'--image={need_shared(PORTRAITS)}',
                f'--output={out}', f'--backend={backend}')
        with open(out, newline='') as f:
            rows[backend] = {(r['file'], r['face']): r for r in csv.DictReader(f)}
    assert rows['tf'].keys() == rows['lite'].keys() and len(rows['tf']) >= 100
    differences = []
    for key, tf_row in rows['tf'].items():
        lite_row = rows['lite'][key]
        assert (lite_row['box_x_y_w_h'], lite_row['class']) == (tf_row['box_x_y_w_h'],
                                                                 tf_row['class']), key
        if tf_row['class']:
            differences.append(abs(float(lite_row['probability']) - float(tf_row['probability'])))
    assert np.mean(differences) <= 0.01, np.mean(differences)


def test_the_numpy_eval_view_is_tensorflows_within_one_grey_level():
    import tensorflow as tf
    import networks
    from data import eval_view_np, preprocess
    faces = np.random.RandomState(0).randint(0, 256, (3, 100, 100, 3)).astype(np.uint8)
    for name in networks.names():
        d = networks.get(name).defaults
        for eval_crop in ('center', 'resize'):
            spec = preprocess.ImageSpec(d.input_size, d.crop_size, d.channels, eval_crop)
            mine = eval_view_np.eval_pipeline(faces, spec)
            theirs = preprocess.eval_pipeline(tf.constant(faces), spec).numpy()
            assert mine.shape == theirs.shape, name
            assert np.abs(mine - theirs).max() <= 1.001 / 127.5, (name, eval_crop)


def test_lite_detector_finds_mtcnns_boxes_and_landmarks():
    from data import faces
    from data.images import load_rgb
    lite = faces.LiteDetector(os.path.join(RELEASED, 'lite'))
    for name in sorted(os.listdir(os.path.join(need_shared(PORTRAITS), 'man')))[:5]:
        rgb = load_rgb(os.path.join(PORTRAITS, 'man', name))
        small = rgb[::4, ::4].copy()
        assert lite.found(small) == [dict(r, confidence=pytest.approx(r['confidence'], abs=1e-4))
                                     for r in faces.get_detector().found(small)], name


def copy_of_models(tmp_path, change):
    """models/ copied with the default model's lite.json changed by `change(info)`."""
    models = tmp_path / 'models'
    shutil.copytree(RELEASED, models / DEFAULT)
    path = models / DEFAULT / 'lite' / 'lite.json'
    info = json.loads(path.read_text())
    change(info)
    path.write_text(json.dumps(info))
    return models


def test_a_detector_made_from_other_mtcnn_weights_is_noticed(tmp_path):
    models = copy_of_models(tmp_path, lambda info: info['detector'].update(
        mtcnn_weights_sha256='0' * 64))
    proc = watched('--mode=predict', f'--image={a_portrait()}', models=models)
    assert proc.returncode == 0, proc.stderr
    assert 'note: answering through TensorFlow: its face detector was converted from other ' \
           'MTCNN weights' in proc.stdout
    assert proc.stdout.splitlines()[-1] == 'tensorflow imported: True'
    refused(watched('--mode=predict', f'--image={a_portrait()}', '--backend=lite',
                    models=models), '--backend=lite')


def test_settings_the_files_were_not_made_with_answer_through_tensorflow():
    for flag in ('--eval_flip=false', '--margin=0.2'):
        proc = watched('--mode=predict', f'--image={a_portrait()}', flag)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.splitlines()[-1] == 'tensorflow imported: True', flag


def test_preparation_converts_the_detector_once_into_a_cache_named_by_its_weights(
        tmp_path, monkeypatch, capsys):
    from data import mtcnn_convert, mtcnn_lite
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path))
    folder = mtcnn_convert.cached_stages(announce=True)
    assert f'Converting the face detector (MTCNN) for LiteRT, once, into {folder}' in \
        capsys.readouterr().out
    checksum = mtcnn_lite.weights_checksum()
    assert os.path.basename(folder) == f'mtcnn-{checksum[:16]}'
    made = json.loads(open(os.path.join(folder, 'detector.json')).read())
    assert made['mtcnn_weights_sha256'] == checksum
    stamp = os.path.getmtime(os.path.join(folder, 'onet.tflite'))
    assert mtcnn_convert.cached_stages(announce=True) == folder      # made once, then found
    assert capsys.readouterr().out == ''
    assert os.path.getmtime(os.path.join(folder, 'onet.tflite')) == stamp
    assert [n for n in os.listdir(tmp_path / 'facecnn') if n.startswith('.')] == []
