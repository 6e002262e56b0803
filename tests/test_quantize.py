"""int8 models (core/serve/quantize.py) through runner.py: export, eval and predict, against fp32."""
import glob
import json
import os
import re

import numpy as np
import pytest

from conftest import TRAINED_CROP, UTKFACE, run_cli


@pytest.fixture(scope='module')
def int8_export(trained, tmp_path_factory):
    export_dir = tmp_path_factory.mktemp('int8') / 'export'
    proc = run_cli('runner.py', '--mode=export', '--quantize=int8',
                   f'--train_dir={trained["train_dir"]}', f'--export_dir={export_dir}')
    return {'dir': export_dir, 'model': export_dir / 'model_int8.tflite',
            'export_log': proc.stdout + proc.stderr, **trained}


def fp32_bytes(train_dir):
    """The float32 bytes of the network's weights in the best checkpoint (no optimizer slots)."""
    import tensorflow as tf
    from core import checkpoints
    return 4 * sum(int(np.prod(shape)) for name, shape in
                   tf.train.list_variables(checkpoints.choose(train_dir, 'best'))
                   if name.startswith('net/') and not name.endswith(('/Adam', '/Adam_1')))


def test_export_writes_an_int8_model_and_measures_it_against_fp32(int8_export):
    assert int8_export['model'].is_file()
    info = json.loads((int8_export['dir'] / 'model.json').read_text())['int8']
    assert info['file'] == 'model_int8.tflite'
    # int8 weights: about a quarter of the network's float32 ones.
    assert 0.2 < info['megabytes'] * 1e6 / fp32_bytes(int8_export['train_dir']) < 0.35, info
    assert info['count'] > 0
    assert info['agreement'] >= 0.95, info
    # The suite's model is barely trained (near chance): two faces of 40 that change class
    # move accuracy 5 points. What must hold is that the accuracies are of the same faces:
    # they can differ by no more than the answers that disagree.
    assert abs(info['int8_accuracy'] - info['fp32_accuracy']) <= 1 - info['agreement'] + 1e-9, info
    assert 'int8 model written to' in int8_export['export_log']
    # The converter's and LiteRT's own lines stay out of what a user reads.
    assert 'fully_quantize' not in int8_export['export_log']
    assert 'XNNPACK' not in int8_export['export_log']


def test_int8_logits_follow_the_fp32_network(int8_export):
    """On real eval faces the quantized logits stay close to the float ones."""
    from core import checkpoints, config
    from core.evaluate import calibration
    from core.serve import quantize
    cfg = config.resolve({'mode': 'eval', 'net': 'nn_gender',
                          'train_dir': int8_export['train_dir']}, explicit=set())
    path = checkpoints.choose(cfg.train_dir, 'best')
    _, sess, net_input, logits = quantize.network(cfg, path, calibration.temperature_for(path))
    net = quantize.Int8Network(str(int8_export['model']))
    batch = next(quantize.split_batches(cfg, 'eval', 32))
    with sess:
        fp32 = sess.run(logits, {net_input: batch['image']})
    int8 = net.logits(batch['image'])
    assert int8.shape == fp32.shape == (len(batch['label']), 2)
    spread = fp32.max() - fp32.min()
    assert np.abs(int8 - fp32).max() < 0.1 * spread + 1e-3


def test_eval_of_an_int8_model_reports_beside_it_and_leaves_the_checkpoint_alone(int8_export):
    calibration_files = glob.glob(os.path.join(int8_export['train_dir'], '**', 'calibration*.json'),
                                  recursive=True)
    before = {p: os.path.getmtime(p) for p in calibration_files}
    proc = run_cli('runner.py', '--mode=eval', f'--train_dir={int8_export["train_dir"]}',
                   f'--int8_model={int8_export["model"]}')
    assert 'int8 model' in proc.stdout
    report = json.loads((int8_export['dir'] / 'eval_int8.json').read_text())
    info = json.loads((int8_export['dir'] / 'model.json').read_text())['int8']
    assert report['accuracy'] == pytest.approx(info['int8_accuracy'], abs=1e-6)
    assert 'race' in report['groups']
    assert (int8_export['dir'] / 'groups_int8.png').is_file()
    assert {p: os.path.getmtime(p) for p in calibration_files} == before


def test_predict_with_the_int8_model_agrees_with_fp32(int8_export):
    photos = sorted(os.listdir(UTKFACE))[:6]
    folder = int8_export['dir'] / 'faces'
    folder.mkdir()
    for name in photos:
        os.symlink(os.path.join(UTKFACE, name), folder / name)
    common = ('runner.py', '--mode=predict', '--detect=off', f'--image={folder}',
              f'--train_dir={int8_export["train_dir"]}')
    fp32 = run_cli(*common, f'--output={int8_export["dir"] / "fp32.csv"}')
    int8 = run_cli(*common, f'--int8_model={int8_export["model"]}',
                   f'--output={int8_export["dir"] / "int8.csv"}')
    assert fp32.returncode == int8.returncode == 0

    def probabilities(name):
        import csv
        with open(int8_export['dir'] / name) as f:
            return {row['file']: float(row['p_female']) for row in csv.DictReader(f)}
    a, b = probabilities('fp32.csv'), probabilities('int8.csv')
    assert a.keys() == b.keys() and len(a) == len(photos)
    assert max(abs(a[k] - b[k]) for k in a) < 0.05


def test_an_int8_model_for_other_faces_is_refused_with_the_reason(int8_export):
    from core import config
    from core.serve import quantize
    net = quantize.Int8Network(str(int8_export['model']))
    face = (TRAINED_CROP, TRAINED_CROP, 1)
    assert net.expect(face) is net
    with pytest.raises(config.ConfigError, match=re.escape(str(face)) + r'.*\(60, 60, 3\)'):
        net.logits(np.zeros((2, 60, 60, 3), np.float32))


def test_a_missing_int8_model_is_one_line(trained):
    proc = run_cli('runner.py', '--mode=eval', f'--train_dir={trained["train_dir"]}',
                   '--int8_model=nowhere/model_int8.tflite', check=False)
    assert proc.returncode != 0
    assert '--int8_model=nowhere/model_int8.tflite does not exist' in proc.stderr
    assert 'Traceback' not in proc.stderr
