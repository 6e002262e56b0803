"""Released models (models/<name>/): made by tools.release from a trained run, found by name
from any folder, answering when no model is named, and the base fine-tuning starts from."""
import json
import os
import subprocess
import sys

import pytest
import tensorflow as tf

from conftest import REPO, SHARED, need_shared

PORTRAITS = os.path.join(SHARED, 'datasets', 'portraits')


def run_in(cwd, *args, models=None, check=True):
    """`python <args>` from the folder `cwd`, with FACECNN_MODELS=`models` when given."""
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL='2')
    if models:
        env['FACECNN_MODELS'] = str(models)
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)
    if check and proc.returncode:
        raise AssertionError(f'{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}')
    return proc


@pytest.fixture(scope='module')
def release(trained, tmp_path_factory):
    """The briefly trained nn_gender released under the default model's name, elsewhere."""
    from core.serve import released
    models = tmp_path_factory.mktemp('models')
    run_in(REPO, '-m', 'tools.release', f'--train_dir={trained["train_dir"]}',
           f"--name={released.DEFAULT}", "--max_mb=100", models=models)
    return models, os.path.join(models, released.DEFAULT)


def test_a_release_is_the_weights_alone_with_no_path_of_this_machine(release, trained):
    models, folder = release
    stored = dict(tf.train.list_variables(os.path.join(folder, 'model.ckpt')))
    assert stored and all(name.startswith('net/') for name in stored), sorted(stored)
    assert not any('Adam' in name or 'Momentum' in name for name in stored)
    run = json.load(open(os.path.join(folder, 'run.json')))
    assert run['data_dir'] is None and run['classes'] == ['male', 'female']
    assert REPO not in open(os.path.join(folder, 'checkpoint')).read()
    again = run_in(REPO, '-m', 'tools.release', f'--train_dir={trained["train_dir"]}',
                   f'--name={os.path.basename(folder)}', models=models, check=False)
    assert again.returncode and 'is never overwritten' in again.stderr


def test_predict_without_a_model_flag_uses_the_released_model_and_says_so(release, trained,
                                                                           tmp_path):
    models, folder = release
    face = os.path.join(need_shared(PORTRAITS), 'woman', sorted(os.listdir(
        os.path.join(PORTRAITS, 'woman')))[0])
    out = run_in(tmp_path, os.path.join(REPO, 'runner.py'), '--mode=predict', f'--image={face}',
                 models=models).stdout
    assert f'the released model {os.path.basename(folder)} answers' in out
    by_name = run_in(tmp_path, os.path.join(REPO, 'runner.py'), '--mode=predict',
                     f'--image={face}', f'--train_dir={os.path.basename(folder)}',
                     models=models).stdout
    original = run_in(tmp_path, os.path.join(REPO, 'runner.py'), '--mode=predict',
                      f'--image={face}', f'--train_dir={trained["train_dir"]}').stdout
    answer = [line for line in original.splitlines() if 'face 1' in line]
    assert answer and answer[0] in by_name.splitlines() and answer[0] in out.splitlines()


def test_eval_of_a_released_model_leaves_its_calibration_alone(release, trained):
    models, folder = release
    calibration = open(os.path.join(folder, 'calibration.json')).read()
    run_in(REPO, 'runner.py', '--mode=eval', f'--train_dir={os.path.basename(folder)}',
           f'--data_dir={trained["data_dir"]}', models=models)
    assert open(os.path.join(folder, 'calibration.json')).read() == calibration
    assert os.path.isfile(os.path.join(folder, 'eval_utk.json'))


def test_fine_tuning_starts_from_a_released_model_by_name(release, trained, tmp_path):
    models, folder = release
    out = run_in(REPO, 'runner.py', f'--init_from={os.path.basename(folder)}',
                 f'--data_dir={trained["data_dir"]}', f'--train_dir={tmp_path / "mine"}',
                 '--max_steps=2', models=models).stdout
    assert f'Fine-tuning from {os.path.join(folder, "model.ckpt")}' in out
    assert ' 0 fresh' in out
    unknown = run_in(REPO, 'runner.py', '--init_from=no_such_model', f'--data_dir='
                     f'{trained["data_dir"]}', f'--train_dir={tmp_path / "x"}', models=models,
                     check=False)
    assert unknown.returncode and unknown.stderr.count('\n') == 1
    assert 'neither a training folder nor a released model' in unknown.stderr


def test_the_released_model_is_right_on_the_shared_portraits_from_a_fresh_clone(tmp_path):
    """A fresh clone, no model flag: the released model answers 100 raw portraits, a photo
    counted right when its largest face gets its folder's class (no face found: wrong)."""
    from core.serve import released
    need_shared(PORTRAITS)
    if released.DEFAULT not in subprocess.run(['git', 'ls-files', 'models'], cwd=REPO,
                                              capture_output=True, text=True).stdout:
        pytest.skip(f'models/{released.DEFAULT} is not committed in this checkout')
    clone = tmp_path / 'clone'
    subprocess.run(['git', 'clone', '--quiet', REPO, str(clone)], check=True)
    out = run_in(clone, 'runner.py', '--mode=predict', f'--image={PORTRAITS}',
                 f'--output={tmp_path / "answers.csv"}')
    assert f'the released model {released.DEFAULT} answers' in out.stdout
    from core.serve.predict import largest_faces
    largest = {tuple(name.split(os.sep)[-2:]): (row['class'],)      # (class folder, file)
               for name, row in largest_faces(tmp_path / 'answers.csv').items()}
    truth = {'man': 'male', 'woman': 'female'}
    photos = [(c, n) for c in truth for n in os.listdir(os.path.join(PORTRAITS, c))]
    right = sum(largest.get(p, (None,))[0] == truth[p[0]] for p in photos)
    assert len(photos) == 100 and right >= 90, f'{right} of {len(photos)} right'
