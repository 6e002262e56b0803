"""End to end through runner.py, as a user runs it: train, resume, eval, predict, features, export."""
import csv
import json
import os
import re
import shutil
import textwrap

import numpy as np
import pytest

from conftest import BAD_INPUTS, TRAINED_CROP, UTKFACE, manifest, refused, run_cli

PREDICTION = re.compile(r'^(?P<file>.+?): (face (?P<face>\d+) at (?P<box>[\d,]+): )?'
                        r'(?P<uncertain>uncertain \()?(?P<cls>male|female) (?P<pct>\d+\.\d)%\)?$',
                        re.M)


def losses(log):
    return [float(x) for x in re.findall(r'loss (\d+\.\d+)', log)]


def a_face(index=0):
    return os.path.join(UTKFACE, sorted(os.listdir(UTKFACE))[index])


def test_training_lowers_the_loss_and_keeps_checkpoints(trained):
    curve = losses(trained['log'])
    assert len(curve) == 8
    assert np.mean(curve[-2:]) < np.mean(curve[:2]), curve
    assert re.search(r'eval at step 40: accuracy \d+\.\d+% on \d+ images', trained['log'])
    files = os.listdir(trained['train_dir'])
    assert 'model.ckpt-40.index' in files and 'run.json' in files
    assert any(f.startswith('events.out.tfevents') for f in files)
    best = json.load(open(os.path.join(trained['train_dir'], 'best', 'best.json')))
    assert best['step'] in (20, 40) and 0 <= best['accuracy'] <= 1


@pytest.fixture(scope='module')
def copied(trained, tmp_path_factory):
    """(runner.py and its flags, folder) of a copy of the trained run, to train on further."""
    folder = tmp_path_factory.mktemp('copied') / 'nn_gender'
    shutil.copytree(trained['train_dir'], folder)
    return ('runner.py', '--net=nn_gender', f'--data_dir={trained["data_dir"]}',
            f'--train_dir={folder}', '--log_every=5', '--batch_size=32'), str(folder)


def test_the_same_command_again_resumes_at_the_saved_step(copied):
    args, _ = copied
    again = run_cli(*args, '--max_steps=40', '--eval_every=20', '--seed=3')
    assert 'Resuming from step 40' in again.stdout
    assert 'nothing to do' in again.stdout
    more = run_cli(*args, '--max_steps=45', '--eval_every=100')
    assert 'Resuming from step 40' in more.stdout and 'step 45/45' in more.stdout


def test_run_json_is_the_whole_configuration_and_guards_the_graph(copied):
    """A recipe setting may change between runs of a folder (the record follows it); a
    setting that shapes the graph may not: one line, nothing trained."""
    from core import config
    args, folder = copied
    more = run_cli(*args, '--max_steps=50', '--learning_rate=3e-4', '--eval_every=100')
    assert 'step 50/50' in more.stdout
    record = json.load(open(os.path.join(folder, 'run.json')))
    assert set(config.RunConfig.__dataclass_fields__) <= set(record)
    assert record['learning_rate'] == 3e-4 and record['max_steps'] == 50
    assert record['lr_schedule'] and record['optimizer'] and record['batch_size'] == 32
    stopped = run_cli(*args, '--max_steps=60', '--crop_size=64', check=False)
    assert 'step' not in stopped.stdout, stopped.stdout
    refused(stopped, '--crop_size')
    assert not os.path.exists(os.path.join(folder, 'model.ckpt-60.index'))


def test_eval_writes_its_json_and_prints_a_table(trained):
    proc = run_cli('runner.py', '--mode=eval', f'--train_dir={trained["train_dir"]}')
    assert re.search(r'accuracy \d+\.\d\d% on \d+ images', proc.stdout)
    assert 'confusion' in proc.stdout
    report = json.load(open(os.path.join(trained['train_dir'], 'best', 'eval.json')))
    assert set(report['per_class']) == {'male', 'female'}
    assert sum(map(sum, report['confusion_matrix'])) == report['count'] > 0
    # UTKFace records carry race and age: accuracy per group, a table and a chart.
    assert 'by race' in proc.stdout and 'by age' in proc.stdout
    assert sum(r['count'] for r in report['groups']['race'].values()) == report['count']
    assert sum(r['count'] for r in report['groups']['age'].values()) == report['count']
    # ... and crossed with gender: each cell counts the eval faces of that race and gender.
    assert 'by race x gender' in proc.stdout and 'by age x gender' in proc.stdout
    cells = report['groups']['race x gender']
    assert {name: row['count'] for name, row in cells.items()} == _race_gender_counts(
        trained['data_dir'])
    assert all(0 <= row['ece'] <= 1 for row in cells.values())
    # Calibrated: the temperature is stored beside the checkpoint, with both errors.
    fitted = json.load(open(os.path.join(trained['train_dir'], 'best', 'calibration.json')))
    assert fitted['temperature'] > 0 and fitted['nll_after'] <= fitted['nll_before'] + 1e-9
    assert os.path.basename(fitted['checkpoint']) == os.path.basename(report['checkpoint'])
    for picture in ('groups.png', 'reliability.png'):
        assert os.path.getsize(os.path.join(trained['train_dir'], 'best', picture)) > 1000


def _race_gender_counts(data_dir):
    """{'White male': n, ...} read from the eval split's records themselves."""
    import tensorflow as tf
    from data import records
    from data.sources import RACES
    counts = {}
    for path in records.shard_files(data_dir, records.read_meta(data_dir), 'eval'):
        for raw in tf.compat.v1.io.tf_record_iterator(path):
            example = records.parse(raw, ('race',))
            gender = ('male', 'female')[int(example['image/class/label'])]
            name = f'{RACES[int(example["image/attr/race"])]} {gender}'
            counts[name] = counts.get(name, 0) + 1
    return counts


def test_predict_prints_a_class_and_a_percentage_per_image(trained, tmp_path):
    out = tmp_path / 'results.csv'
    proc = run_cli('runner.py', '--mode=predict', f'--train_dir={trained["train_dir"]}',
                   f'--image={a_face()}', f'--output={out}')
    match = PREDICTION.search(proc.stdout)
    assert match and 0 < float(match['pct']) <= 100 and match['face'] == '1'
    x, y, w, h = (int(v) for v in match['box'].split(','))
    assert w > 50 and h > 50 and x + w <= 210 and y + h <= 210     # a face in the 200 px chip
    assert (out.read_text().splitlines()[0] ==
            'file,face,box_x_y_w_h,class,probability,uncertain,p_male,p_female,error')
    # Below --uncertain_below a face is called uncertain, not given a class outright.
    proc = run_cli('runner.py', '--mode=predict', f'--train_dir={trained["train_dir"]}',
                   f'--image={a_face()}', '--uncertain_below=1.0')
    assert PREDICTION.search(proc.stdout)['uncertain']


def test_predict_answers_a_phone_photo_and_any_file_name_in_its_csv(trained, tmp_path):
    from PIL import Image
    import data.images  # noqa: F401  (registers the HEIC reader)
    folder = tmp_path / 'photos'
    folder.mkdir()
    Image.open(a_face()).save(folder / 'IMG_0001.HEIC')
    with open(os.fsencode(folder) + b'/caf\xe9.jpg', 'wb') as f:       # not UTF-8
        f.write(open(a_face(3), 'rb').read())
    (folder / 'notes.jpg').write_text('not a photo')
    (folder / 'scan.pdf').write_bytes(b'%PDF-1.4\n')      # any file gets its line, not only .jpg
    out = tmp_path / 'results.csv'
    proc = run_cli('runner.py', '--mode=predict', f'--train_dir={trained["train_dir"]}',
                   f'--image={folder}', f'--output={out}')
    assert 'Traceback' not in proc.stderr
    rows = {os.path.basename(r['file']): r
            for r in csv.DictReader(open(out, encoding='utf-8'))}
    assert set(rows) == {'IMG_0001.HEIC', 'caf\\xe9.jpg', 'notes.jpg', 'scan.pdf'}
    assert rows['IMG_0001.HEIC']['class'] and rows['caf\\xe9.jpg']['class']
    assert 'not an image' in rows['notes.jpg']['error']
    assert 'PDF document' in rows['scan.pdf']['error']
    assert f'{folder}/caf\\xe9.jpg: face 1 at' in proc.stdout


def test_features_writes_one_png_per_conv_layer(trained, tmp_path):
    proc = run_cli('runner.py', '--mode=features', f'--train_dir={trained["train_dir"]}',
                   f'--image={a_face()}', f'--output={tmp_path}')
    pngs = sorted(f for f in os.listdir(tmp_path) if f.endswith('.png'))
    assert pngs == ['00_input.png', '01_conv1.png', '02_conv2.png', '03_conv3.png'], pngs
    assert np.load(tmp_path / '01_conv1.npy').shape == (TRAINED_CROP, TRAINED_CROP, 32)
    assert str(tmp_path) in proc.stdout


def test_exported_model_answers_like_predict_in_a_fresh_process(trained, tmp_path):
    export_dir = tmp_path / 'export'
    run_cli('runner.py', '--mode=export', f'--train_dir={trained["train_dir"]}',
            f'--export_dir={export_dir}')
    faces = [a_face(i) for i in (0, 7)]
    # --detect=off: predict takes the chip whole, as the SavedModel does; float32, as a
    # SavedModel served without our session's bfloat16 rewrite computes.
    predicted = run_cli('runner.py', '--mode=predict', f'--train_dir={trained["train_dir"]}',
                        f'--image={faces[0]}', f'--output={tmp_path / "p0.csv"}', '--detect=off',
                        '--precision=fp32')
    run_cli('runner.py', '--mode=predict', f'--train_dir={trained["train_dir"]}',
            f'--image={faces[1]}', f'--output={tmp_path / "p1.csv"}', '--detect=off',
            '--precision=fp32')
    # A fresh interpreter that knows nothing of this project: TensorFlow and PIL only.
    script = tmp_path / 'serve.py'
    script.write_text(textwrap.dedent(f'''
        import json, sys
        import numpy as np, tensorflow as tf
        from PIL import Image
        sys.path = [p for p in sys.path if p not in ('', {os.getcwd()!r})]
        model = tf.saved_model.load({str(export_dir)!r})
        serve = model.signatures['serving_default']
        out = []
        for path in {faces!r}:
            rgb = np.asarray(Image.open(path).convert('RGB'))[None]
            out.append(serve(images=tf.constant(rgb))['probabilities'].numpy()[0].tolist())
        print(json.dumps(out))
    '''))
    served = json.loads(run_cli(str(script)).stdout.strip().splitlines()[-1])
    for i, probs in enumerate(served):
        row = next(csv.DictReader(open(tmp_path / f'p{i}.csv')))
        np.testing.assert_allclose(probs, [float(row['p_male']), float(row['p_female'])],
                                   atol=1e-4)
    assert 'male' in predicted.stdout or 'female' in predicted.stdout
    assert (export_dir / 'labels.txt').read_text() == 'male\nfemale\n'
    # Its lite/ files answer the same faces without TensorFlow, within 0.01.
    from core.serve.lite_model import LiteModel
    from data.images import load_rgb
    lite = LiteModel(str(export_dir))
    for i, path in enumerate(faces):
        row = next(csv.DictReader(open(tmp_path / f'p{i}.csv')))
        np.testing.assert_allclose(lite.probabilities_of(load_rgb(path)),
                                   [float(row['p_male']), float(row['p_female'])], atol=0.01)


def test_every_bad_input_goes_through_predict_as_the_manifest_says(trained, tmp_path):
    proc = run_cli('runner.py', '--mode=predict', f'--train_dir={trained["train_dir"]}',
                   f'--image={BAD_INPUTS}', f'--annotate={tmp_path}')
    assert 'Traceback' not in proc.stderr
    lines = {}
    for line in proc.stdout.splitlines():
        if line.startswith(BAD_INPUTS):
            lines.setdefault(os.path.basename(line.split(': ')[0]), []).append(line)
    for name, action in manifest().items():
        assert name in lines, f'{name} got no line'
        got = lines[name]
        faces = [m for m in map(PREDICTION.match, got) if m]
        if name == 'two_faces.jpg':
            assert [m['face'] for m in faces] == ['1', '2'], got
        elif name in ('no_face.jpg', 'tiny.png'):
            assert not faces and ('no face found' in got[0] or ': skipped: ' in got[0]), got
        elif name == 'upside_down.jpg':
            assert len(got) >= 1                        # no face, or a guess; never a crash
        elif action.startswith(('skip', 'refuse')):
            assert ': skipped: ' in got[0] and len(got) == 1, got
        else:   # accepted formats of a one-face photo, EXIF rotation applied
            assert len(faces) == 1, (name, got)
    assert os.path.isfile(tmp_path / 'grid.png') and os.path.isfile(tmp_path / 'two_faces.jpg')


def test_a_checkpoint_of_another_shape_stops_with_a_clear_message(trained):
    proc = run_cli('runner.py', '--mode=eval', f'--train_dir={trained["train_dir"]}',
                   '--net=vgg13_bn', check=False)
    refused(proc, '--net=nn_gender', '--net=vgg13_bn')
    proc = run_cli('runner.py', f'--train_dir={trained["train_dir"]}', '--num_classes=3',
                   f'--data_dir={trained["data_dir"]}', check=False)
    refused(proc, '--num_classes')


def test_an_unknown_net_lists_the_valid_ones():
    proc = run_cli('runner.py', '--net=resnet999', '--mode=eval', check=False, process=True)
    assert proc.returncode != 0 and 'Traceback' not in proc.stderr
    assert 'nn_gender' in proc.stderr and 'vgg13_bn' in proc.stderr


def test_helpfull_documents_every_flag():
    proc = run_cli('runner.py', '--helpfull', check=False, process=True)   # absl exits 1 after help
    for flag in ('--net', '--mode', '--data_dir', '--train_dir', '--image', '--lr_schedule',
                 '--optimizer', '--[no]fresh', '--export_dir', '--eval_crop'):
        assert flag in proc.stdout


def test_ctrl_c_saves_a_checkpoint_and_the_same_command_resumes_there(utk_records, tmp_path):
    """Ctrl-C or SIGTERM (or both, as from a supervisor right after Ctrl-C): a checkpoint, an
    exit code that says the run is unfinished (so `runner.py ... && release` stops), and the
    same command resumes there. One run, interrupted each way in turn."""
    import signal
    import subprocess
    import sys
    from conftest import REPO
    args = [sys.executable, 'runner.py', f'--data_dir={utk_records}', f'--train_dir={tmp_path}',
            '--input_size=40', '--max_steps=500', '--log_every=2', '--batch_size=16']
    env = dict(os.environ, PYTHONPATH=REPO)
    stopped = 0
    for signals, code in ((['SIGINT'], 130), (['SIGTERM'], 143), (['SIGINT', 'SIGTERM'], 130)):
        # As from a terminal: a suite started in the background (`pytest &`) hands its
        # children SIGINT ignored, and Python keeps an ignored SIGINT ignored.
        proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        lines = []
        for line in proc.stdout:                  # wait until it is really training
            lines.append(line)
            step = re.match(r'step (\d+)/500', line)
            if step and int(step.group(1)) >= stopped + 4:
                break
        for name in signals:
            proc.send_signal(getattr(signal, name))
        out, err = proc.communicate(timeout=120)
        out = ''.join(lines) + out
        assert proc.returncode == code and 'Traceback' not in err, (signals, err)
        assert not stopped or f'Resuming from step {stopped}' in out, out
        stopped = int(re.search(r'Interrupted at step (\d+): checkpoint saved', out).group(1))
        assert 4 <= stopped < 500
    again = run_cli(*args[1:-3], '--max_steps=' + str(stopped + 2), '--log_every=1',
                    '--batch_size=16')
    assert f'Resuming from step {stopped}' in again.stdout


def test_ctrl_c_in_predict_keeps_the_rows_of_the_photos_done(trained, tmp_path):
    import signal
    import subprocess
    import sys
    from conftest import REPO
    folder = tmp_path / 'photos'
    folder.mkdir()
    for i in range(40):
        os.symlink(a_face(i), folder / f'{i:02d}.jpg')
    out = tmp_path / 'results.csv'
    proc = subprocess.Popen([sys.executable, 'runner.py', '--mode=predict', f'--image={folder}',
                             f'--train_dir={trained["train_dir"]}', f'--output={out}'],
                            cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    for line in proc.stdout:                  # the first photo is answered: interrupt
        if PREDICTION.match(line):
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0 and 'Traceback' not in err, err
    done = int(re.search(r'^interrupted after (\d+) of 40 photos: their (\d+) rows are in', err,
                         re.M).group(1))
    rows = list(csv.DictReader(open(out)))
    assert 1 <= done < 40 and len(rows) == done
    assert [os.path.basename(r['file']) for r in rows] == [f'{i:02d}.jpg' for i in range(done)]


def test_a_time_budget_stops_training_with_a_checkpoint_and_an_eval(utk_records, tmp_path):
    proc = run_cli('runner.py', f'--data_dir={utk_records}', f'--train_dir={tmp_path}',
                   '--max_steps=100000', '--max_minutes=0.1', '--lr_schedule=cosine',
                   '--log_every=5', '--batch_size=16', '--input_size=40')
    stopped = int(re.search(r'Time budget of 0.1 minutes used up at step (\d+)',
                            proc.stdout).group(1))
    assert 5 < stopped < 100000
    assert f'model.ckpt-{stopped}.index' in os.listdir(tmp_path)
    assert re.search(rf'eval at step {stopped}: accuracy', proc.stdout)
    # The cosine schedule follows the clock: the learning rate is near zero at the end.
    rates = [float(x) for x in re.findall(r'lr (\d\.\d+e[-+]\d+)', proc.stdout)]
    assert rates[0] > 5e-4 and rates[-1] < 0.2 * rates[0], rates
