"""Released models (models/<name>/): made by tools.release from a trained run, found by name
from any folder, answering when no model is named, and the base fine-tuning starts from."""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO, SHARED, need_shared, refused, run_cli

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


def contents(folder):
    """{path below folder: bytes} of every file in it."""
    return {os.path.relpath(os.path.join(root, n), folder): open(os.path.join(root, n), 'rb').read()
            for root, _, names in os.walk(folder) for n in names}


@pytest.fixture(scope='module')
def release(trained, tmp_path_factory):
    """The briefly trained nn_gender released under the default model's name, elsewhere."""
    from core.store import released
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
    refused(again, folder)


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
                     '--backend=tf', models=models).stdout
    original = run_cli('runner.py', '--mode=predict', f'--image={face}',
                       f'--train_dir={trained["train_dir"]}').stdout
    answer = [line for line in original.splitlines() if 'face 1' in line]
    assert answer and answer[0] in by_name.splitlines()
    # Without --backend its lite/ files answer: the same face and class, the same
    # percentage within a point (tests/test_lite.py holds the two paths together).
    lite = [line for line in out.splitlines() if 'face 1' in line]
    assert lite and lite[0].rsplit(' ', 1)[0] == answer[0].rsplit(' ', 1)[0]
    assert abs(float(lite[0].rsplit(' ', 1)[1].strip('%)')) -
               float(answer[0].rsplit(' ', 1)[1].strip('%)'))) <= 1.0


def test_eval_and_features_of_a_released_model_write_nothing_into_it(release, trained,
                                                                      tmp_path):
    """A shipped model's folder is read, never written: its calibration stays, and what eval
    and features make goes to runs/<name>/ under the working folder, which they name."""
    models, folder = release
    before = contents(folder)
    name = os.path.basename(folder)
    out = run_in(tmp_path, os.path.join(REPO, 'runner.py'), '--mode=eval',
                 f'--train_dir={name}', f'--data_dir={trained["data_dir"]}', models=models)
    assert f'written to {os.path.join("runs", name)}: eval_utk.json' in out.stdout
    assert (tmp_path / 'runs' / name / 'eval_utk.json').is_file()
    face = os.path.join(need_shared(PORTRAITS), 'woman', sorted(os.listdir(
        os.path.join(PORTRAITS, 'woman')))[0])
    run_in(tmp_path, os.path.join(REPO, 'runner.py'), '--mode=features', f'--image={face}',
           f'--train_dir={name}', models=models)
    assert list((tmp_path / 'runs' / name / 'features').iterdir())
    after = contents(folder)
    assert after == before


@pytest.mark.parametrize('extra', [['--fresh'], []])
def test_no_training_writes_into_a_released_model(release, trained, tmp_path, extra):
    """Trained over, fresh or resumed, a shipped model is refused in one line that names the
    fine-tuning command, before anything is written (its files byte for byte the same)."""
    models, folder = release
    before = contents(folder)
    proc = run_in(tmp_path, os.path.join(REPO, 'runner.py'), '--net=nn_gender',
                  f'--data_dir={trained["data_dir"]}', f'--train_dir={folder}', '--max_steps=2',
                  *extra, models=models, check=False)
    refused(proc, f'--train_dir={folder}', f'--init_from={os.path.basename(folder)}')
    after = contents(folder)
    assert after == before


def test_a_model_fine_tuned_from_the_released_one_answers_as_it_does(utk_records, tmp_path):
    """It looks at a face as its base does (the mirror image too), unless a flag says not."""
    from core import config
    from core.store import released, runs
    if not released.default():
        pytest.skip(f'no released model {released.DEFAULT} in models/')
    values = {'mode': 'train', 'data_dir': utk_records, 'train_dir': str(tmp_path / 'mine'),
              'init_from': released.DEFAULT}
    given = {'data_dir', 'train_dir', 'init_from'}
    base = runs.read(released.default())
    cfg = config.resolve(values, explicit=given)
    assert (cfg.eval_flip, cfg.eval_crop) == (base['eval_flip'], base['eval_crop'])
    one_view = config.resolve(dict(values, eval_flip=not base['eval_flip']),
                              explicit=given | {'eval_flip'})
    assert one_view.eval_flip != base['eval_flip']


def test_fine_tuning_starts_from_a_released_model_by_name(release, trained, tmp_path):
    models, folder = release
    out = run_in(REPO, 'runner.py', f'--init_from={os.path.basename(folder)}',
                 f'--data_dir={trained["data_dir"]}', f'--train_dir={tmp_path / "mine"}',
                 '--max_steps=2', '--folds=0', models=models).stdout
    assert f'Fine-tuning from {os.path.join(folder, "model.ckpt")}' in out
    assert ' 0 fresh' in out
    unknown = run_in(REPO, 'runner.py', '--init_from=no_such_model', f'--data_dir='
                     f'{trained["data_dir"]}', f'--train_dir={tmp_path / "x"}', models=models,
                     check=False)
    refused(unknown, '--init_from=no_such_model')


def test_the_released_model_is_right_on_the_shared_portraits_from_a_fresh_clone(tmp_path):
    """A fresh clone, no model flag: the released model answers 100 raw portraits, a photo
    counted right when its largest face gets its folder's class (no face found: wrong)."""
    from core.store import released
    need_shared(PORTRAITS)
    if released.DEFAULT not in subprocess.run(['git', 'ls-files', 'models'], cwd=REPO,
                                              capture_output=True, text=True).stdout:
        pytest.skip(f'models/{released.DEFAULT} is not committed in this checkout')
    clone = tmp_path / 'clone'
    subprocess.run(['git', 'clone', '--quiet', REPO, str(clone)], check=True)
    out = run_in(clone, 'runner.py', '--mode=predict', f'--image={PORTRAITS}',
                 f'--output={tmp_path / "answers.csv"}')
    assert f'the released model {released.DEFAULT} answers' in out.stdout
    from modes.predict import largest_faces
    largest = {tuple(name.split(os.sep)[-2:]): (row['class'],)      # (class folder, file)
               for name, row in largest_faces(tmp_path / 'answers.csv').items()}
    truth = {'man': 'male', 'woman': 'female'}
    photos = [(c, n) for c in truth for n in os.listdir(os.path.join(PORTRAITS, c))]
    right = sum(largest.get(p, (None,))[0] == truth[p[0]] for p in photos)
    assert len(photos) == 100 and right >= 90, f'{right} of {len(photos)} right'


def test_a_release_clears_what_a_killed_release_left_and_nothing_else(release, trained):
    """A kill -9 during a release left models/.NAME-xxxxxxxx (the weights' size) forever."""
    models, _ = release
    ended = subprocess.Popen([sys.executable, '-c', 'pass'])
    ended.wait()                                               # its pid: no process now
    dead, alive = models / '.old-abcd1234', models / '.busy-wxyz5678'
    for folder, pid in ((dead, ended.pid), (alive, os.getpid())):
        folder.mkdir()
        (folder / '.release_pid').write_text(str(pid))
        (folder / 'model.ckpt.index').write_bytes(b'half')
    (models / '.keep').mkdir()
    run_in(REPO, '-m', 'tools.release', f'--train_dir={trained["train_dir"]}',
           '--name=another', '--max_mb=100', models=models)
    assert not dead.exists() and alive.is_dir() and (models / '.keep').is_dir()
    assert not (models / 'another' / '.release_pid').exists()


def test_a_release_refuses_bad_names_a_run_still_training_and_unwritable_models(trained,
                                                                               tmp_path):
    """One line each, nothing written: a name that is a path or hidden, a training folder
    whose lock is held, a models/ that cannot be written."""
    from core.run import lock
    from tools import release
    models = tmp_path / 'models'
    for name in ('.', '..', '.hidden', 'a/b'):
        with pytest.raises(ValueError, match=f'^--name={re.escape(name)}: '):
            release.check(trained['train_dir'], name)
    proc = run_in(REPO, '-m', 'tools.release', f'--train_dir={trained["train_dir"]}',
                  '--name=/tmp/elsewhere', '--max_mb=100', models=models, check=False)
    refused(proc, '--name=/tmp/elsewhere')
    assert not os.path.exists('/tmp/elsewhere')
    with lock.hold(trained['train_dir']):
        with pytest.raises(ValueError, match=f'process {os.getpid()}'):
            release.check(trained['train_dir'], 'busy')
    blocked = tmp_path / 'a_file'
    blocked.write_text('not a folder')
    proc = run_in(REPO, '-m', 'tools.release', f'--train_dir={trained["train_dir"]}',
                  '--name=ok', '--max_mb=100', models=blocked / 'models', check=False)
    refused(proc, blocked)
    assert not models.exists()


def test_a_release_answers_with_the_mirror_image_only_once_that_view_is_calibrated(trained,
                                                                                 tmp_path):
    """--eval_flip: refused (one line naming the flag) until an eval with the mirror image
    has fitted its calibration; then run.json says so and that calibration goes along."""
    import shutil
    from core import checkpoints
    from tools import release
    run = tmp_path / 'run'
    shutil.copytree(trained['train_dir'], run)
    best = checkpoints.choose(str(run), 'best')
    with pytest.raises(ValueError, match='^--eval_flip: '):
        release.check_calibrated(best, True)
    release.check_calibrated(best, None)
    run_cli('runner.py', '--mode=eval', f'--train_dir={run}', '--eval_flip')
    release.check_calibrated(best, True)
    out = tmp_path / 'out'
    out.mkdir()
    release.write_settings(str(run), best, str(out), eval_flip=True)
    assert json.load(open(out / 'run.json'))['eval_flip'] is True
    assert json.load(open(out / 'calibration_flip.json'))['checkpoint'] == 'model.ckpt'


def test_a_balanced_release_answers_at_the_threshold_eval_fitted(release, trained, tmp_path):
    """--balance_errors: refused in one line while the checkpoint's calibration has no
    balanced threshold (this model's eval split is too small for eval to fit one: it is
    fitted here from the same answers); then the release's classifier bias moves by it, and
    the release, judged on the same faces, is wrong on each class as often as the fit said."""
    import shutil
    from core import config, model
    from core.evaluate import calibration
    from data import records
    run = tmp_path / 'run'
    shutil.copytree(trained['train_dir'], run)
    models = tmp_path / 'models'
    args = ('-m', 'tools.release', f'--train_dir={run}', '--name=balanced', '--max_mb=100',
            '--balance_errors')
    refused(run_in(REPO, *args, models=models, check=False), '--balance_errors', '--mode=eval')
    assert not models.exists() or not os.listdir(models)
    cfg = config.resolve({'mode': 'eval', 'train_dir': str(run), 'backend': 'tf'},
                         {'train_dir', 'backend'})
    out, path = model.split_outputs(cfg, records.eval_split(records.read_meta(cfg.data_dir)),
                                    'best')
    record = calibration.record_for(path)
    record['balance'] = balance = calibration.fit_balance(out['logits'], out['label'],
                                                          record['temperature'])
    with open(calibration.path_for(path), 'w') as f:
        json.dump(record, f)
    run_in(REPO, *args, models=models)
    bias = 'net/logits/biases'
    moved = tf.train.load_variable(str(models / 'balanced' / 'model.ckpt'), bias)
    plain = tf.train.load_variable(os.path.join(release[1], 'model.ckpt'), bias)
    released_record = json.load(open(models / 'balanced' / 'calibration.json'))
    shift = released_record['bias_shift']
    assert shift and np.allclose(moved - plain, [0.0, shift], atol=1e-6)
    assert shift == pytest.approx(balance['offset'] * record['temperature'])
    run_in(tmp_path, os.path.join(REPO, 'runner.py'), '--mode=eval', '--train_dir=balanced',
           f'--data_dir={trained["data_dir"]}', models=models)
    sides = json.load(open(tmp_path / 'runs' / 'balanced' / 'eval_utk.json'))['error_sides']
    assert [sides['all']['men_called_women'], sides['all']['women_called_men']] == \
        pytest.approx(balance['errors_after'], abs=1e-9)
