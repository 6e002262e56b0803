"""Your own photos: fine-tuning from a base model, and the guards that keep a person from
being handed a useless model without a word (real runs on real faces)."""
import dataclasses
import json
import os
import re
import types

import numpy as np
import pytest
import tensorflow as tf

from conftest import TRAINED_SIZE, UTKFACE, need_shared, refused, run_cli
from core import classes, config, model
from core.run import guards
from core.store import released, runs
from core.train import finetune
from data import pipeline

v1 = tf.compat.v1


@pytest.fixture(scope='module')
def few_faces(tmp_path_factory):
    """60 real UTKFace faces: too few to train from scratch, enough to fine-tune on."""
    need_shared(UTKFACE)
    out = tmp_path_factory.mktemp('few') / 'utk60'
    run_cli('-m', 'data.convert', f'--src={UTKFACE}', '--layout=utkface', f'--out={out}',
            '--limit=60', '--seed=7')
    return str(out)


def restored(cfg, chosen_classes=None):
    """The network's variables after a fresh init and the fine-tuning restore."""
    cfg = dataclasses.replace(cfg, classes=chosen_classes or cfg.classes)
    with tf.Graph().as_default():
        model.build_network(tf.zeros([1, *cfg.crop_size, cfg.channels]), cfg, is_training=True)
        base = finetune.Base(cfg)
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            base.restore(sess)
            return {v.op.name: sess.run(v) for v in v1.global_variables()}


def test_the_base_is_restored_at_step_zero_except_the_excluded_scope(trained, few_faces):
    base_path, _ = finetune.base_checkpoint(trained['train_dir'])
    reader = tf.train.load_checkpoint(base_path)
    cfg = config.resolve({'mode': 'train', 'net': 'nn_gender', 'data_dir': few_faces,
                          'train_dir': '/nonexistent', 'init_from': trained['train_dir'],
                          'exclude_scopes': ['net/fc1']}, explicit={'data_dir', 'init_from'})
    values = restored(cfg)
    assert values, 'nothing built'
    for name, value in values.items():
        if name.startswith('net/fc1/'):
            assert not np.allclose(value, reader.get_tensor(name)), f'{name} was restored'
        else:
            np.testing.assert_array_equal(value, reader.get_tensor(name), err_msg=name)
    # Classes in another order: the classifier layer's columns follow the names.
    swapped = restored(dataclasses.replace(cfg, exclude_scopes=None), ['female', 'male'])
    np.testing.assert_array_equal(swapped['net/logits/weights'],
                                  reader.get_tensor('net/logits/weights')[:, ::-1])
    assert cfg.learning_rate == pytest.approx(1e-4)         # a tenth of nn_gender's 1e-3
    assert cfg.label_smoothing == config.FINETUNE_LABEL_SMOOTHING > 0
    plain = config.resolve({'mode': 'train', 'net': 'nn_gender', 'data_dir': few_faces,
                            'train_dir': '/nonexistent', 'init_from': trained['train_dir'],
                            'label_smoothing': 0.0},
                           explicit={'data_dir', 'init_from', 'label_smoothing'})
    assert plain.label_smoothing == 0.0                      # a flag the user gives wins


def test_the_model_kept_is_averaged_with_the_base(trained, few_faces):
    """WiSE-FT: base_share of the base's value plus the rest of the fine-tuned one, for the
    restored variables only; the fresh scope keeps its trained value."""
    cfg = config.resolve({'mode': 'train', 'net': 'nn_gender', 'data_dir': few_faces,
                          'train_dir': '/nonexistent', 'init_from': trained['train_dir'],
                          'exclude_scopes': ['net/fc1']}, explicit={'data_dir', 'init_from'})
    assert cfg.base_share == config.FINETUNE_BASE_SHARE > 0
    reader = tf.train.load_checkpoint(finetune.base_checkpoint(trained['train_dir'])[0])
    with tf.Graph().as_default():
        model.build_network(tf.zeros([1, *cfg.crop_size, cfg.channels]), cfg, is_training=True)
        base = finetune.Base(cfg)
        net = [v for v in v1.global_variables() if v.op.name.startswith('net/')]
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            base.restore(sess)
            rng = np.random.default_rng(0)
            for var in net:                             # "fine-tuned": moved off the base
                var.load(sess.run(var) + rng.normal(size=var.shape).astype(np.float32), sess)
            tuned = {v.op.name: sess.run(v) for v in net}
            base.average_into(sess, 0.25)
            kept = {v.op.name: sess.run(v) for v in net}
            base.average_into(sess, 0.0)                # 0: the fine-tuned weights stay
            assert all(np.array_equal(kept[v.op.name], sess.run(v)) for v in net)
    assert any(name.startswith('net/fc1/') for name in kept)
    for name, value in kept.items():
        if name.startswith('net/fc1/'):
            np.testing.assert_array_equal(value, tuned[name], err_msg=name)
        else:
            np.testing.assert_allclose(value, 0.75 * tuned[name] + 0.25 * reader.get_tensor(name),
                                       rtol=1e-5, atol=1e-6, err_msg=name)


def test_base_share_is_a_share_and_only_for_fine_tuning(trained, few_faces):
    flags = {'mode': 'train', 'net': 'nn_gender', 'data_dir': few_faces,
             'train_dir': '/nonexistent', 'init_from': trained['train_dir'], 'base_share': 1.0}
    with pytest.raises(config.ConfigError, match=r'^--base_share=1'):
        config.resolve(flags, explicit={'data_dir', 'init_from', 'base_share'})
    del flags['init_from']
    with pytest.raises(config.ConfigError, match=r'^--base_share.*--init_from'):
        config.resolve(dict(flags, base_share=0.3), explicit={'data_dir', 'base_share'})


def test_classes_match_by_name_or_map():
    assert classes.mapping(['man', 'woman'], ['male', 'female']) == {0: 0, 1: 1}
    assert classes.mapping(['Woman', 'man'], ['male', 'female']) == {0: 1, 1: 0}
    assert classes.mapping(['cat', 'dog'], ['male', 'female']) == {}
    assert classes.mapping(['a', 'b'], ['male', 'female'], ['a=female', 'b=male']) == {0: 1, 1: 0}
    with pytest.raises(config.ConfigError, match='--class_map.*cats'):
        finetune.class_mapping(['a'], ['male', 'female'], ['a=cats'])


def test_fine_tuning_trains_only_the_trainable_scopes_and_says_what_it_restored(
        trained, few_faces, tmp_path):
    base_path, _ = finetune.base_checkpoint(trained['train_dir'])
    proc = run_cli('runner.py', f'--data_dir={few_faces}', f'--train_dir={tmp_path}',
                   f'--init_from={trained["train_dir"]}', '--trainable_scopes=net/logits',
                   '--max_steps=3', '--batch_size=16', '--log_every=1', '--folds=0')
    assert re.search(r'Fine-tuning from .*: \d+ variables restored, 0 fresh; classes mapped '
                     r'male -> male, female -> female', proc.stdout), proc.stdout
    assert re.search(r'Averaged with the base: each of the \d+ restored variables is 0.5 of '
                     r"the base's value", proc.stdout), proc.stdout
    base, tuned = (tf.train.load_checkpoint(p) for p in
                   (base_path, tf.train.latest_checkpoint(str(tmp_path))))
    np.testing.assert_array_equal(base.get_tensor('net/conv1/weights'),
                                  tuned.get_tensor('net/conv1/weights'))
    assert not np.array_equal(base.get_tensor('net/logits/weights'),
                              tuned.get_tensor('net/logits/weights'))
    # Guards on a small eval split: no "best", no temperature; both said.
    assert re.search(r'no best checkpoint: \d+ eval faces are too few', proc.stdout), proc.stdout
    assert not os.path.exists(tmp_path / 'best' / 'best.json')
    assert re.search(r'not calibrated: \d+ eval faces', proc.stdout)
    cal = json.load(open(tmp_path / 'calibration.json'))
    assert cal['temperature'] == 1.0
    # Before training, the base is judged on the same eval faces as the fine-tuned model,
    # exactly as --mode=eval judges it there; the two are then set side by side.
    before = re.search(r'the base on the eval split, before fine-tuning: accuracy '
                       r'(\d+\.\d+)% on (\d+) images', proc.stdout)
    assert before, proc.stdout
    alone = run_cli('runner.py', '--mode=eval', f'--train_dir={trained["train_dir"]}',
                    f'--data_dir={few_faces}')
    assert f'accuracy {before[1]}% on {before[2]} images' in alone.stdout, alone.stdout
    assert re.search(rf"fine-tuned \d+\.\d+% against the base's {before[1]}% on the same "
                     rf'{before[2]} eval faces: too few to tell', proc.stdout), proc.stdout
    # The same command again resumes, and says it does not start from the base again.
    again = run_cli('runner.py', f'--data_dir={few_faces}', f'--train_dir={tmp_path}',
                    f'--init_from={trained["train_dir"]}', '--trainable_scopes=net/logits',
                    '--max_steps=4', '--batch_size=16', '--folds=0')
    assert 'holds a checkpoint already: resuming it' in again.stdout
    assert 'before fine-tuning' not in again.stdout      # the base is not there to judge


def test_a_fine_tuning_that_made_it_worse_says_so():
    base = {'accuracy': 0.95, 'count': 200}
    worse = guards.compare_with_base({'accuracy': 0.93, 'count': 200}, base, 'checkpoints/b')
    # What the line names, not how it is worded: both figures, the faces, the worse way.
    assert all(part in worse for part in ('93.00%', '95.00%', '200', 'worse',
                                          '--train_dir=checkpoints/b')), worse
    better = guards.compare_with_base({'accuracy': 0.96}, base, 'b')
    assert '96.00%' in better and 'worse' not in better, better
    few = guards.compare_with_base({'accuracy': 0.5}, {'accuracy': 1.0, 'count': 10}, 'b')
    assert '10' in few and str(guards.MIN_EVAL_FACES) in few and 'worse' not in few, few


def test_a_base_of_another_geometry_is_one_line(trained, few_faces, tmp_path):
    size = TRAINED_SIZE + 8
    refused(run_cli('runner.py', f'--data_dir={few_faces}', f'--input_size={size}',
                    f'--train_dir={tmp_path}', f'--init_from={trained["train_dir"]}',
                    '--max_steps=2', check=False),
            f'--input_size={TRAINED_SIZE}x{TRAINED_SIZE}', f'--input_size={size}x{size}')


def test_too_few_faces_from_scratch_point_to_fine_tuning(few_faces, tmp_path):
    refused(run_cli('runner.py', f'--data_dir={few_faces}', f'--train_dir={tmp_path}',
                    check=False), '--init_from')


def test_a_training_folder_refuses_another_dataset(trained, few_faces):
    refused(run_cli('runner.py', f'--train_dir={trained["train_dir"]}',
                    f'--data_dir={few_faces}', '--max_steps=100', check=False),
            trained['data_dir'], few_faces, '--fresh')


def test_a_base_of_another_width_is_one_line():
    base = {'net': 'resnet', 'input_size': [72, 72], 'crop_size': [64, 64], 'channels': 3,
            'net_options': {'depth': 18, 'width': 0.5}}
    cfg = types.SimpleNamespace(init_from='checkpoints/base', net='resnet', input_size=(72, 72),
                          crop_size=(64, 64), channels=3, net_options={'depth': 18, 'width': 1})
    with pytest.raises(config.ConfigError, match=r'--net_options=depth=18,width=0.5.*'
                                                 r'--net_options=depth=18,width=1'):
        finetune.check_base(cfg, base)
    cfg.net_options = dict(base['net_options'])
    finetune.check_base(cfg, base)                        # the same options: no complaint
    finetune.check_base(types.SimpleNamespace(**{**vars(cfg), 'net': 'cnn60', 'net_options': {}}),
                        {**base, 'net': 'cnn60', 'net_options': {}})


def saved_network(net, folder):
    """A checkpoint of `net` freshly initialised: names and shapes are what a base lends."""
    cfg = types.SimpleNamespace(net=net, num_classes=2, keep_prob=1.0, weight_decay=0.0,
                                net_options={})
    with tf.Graph().as_default():
        model.build_network(tf.zeros([1, 64, 64, 3]), cfg, is_training=True)
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            return v1.train.Saver().save(sess, os.path.join(folder, 'model.ckpt'))


def test_another_net_keeps_the_body_the_two_share_and_starts_the_rest_fresh(
        few_faces, tmp_path):
    """res64's trained body under res64s's new head (slim's --checkpoint_path into
    another net): every variable of the same name and shape comes from the base."""
    path = saved_network('res64', str(tmp_path))
    runs.write(str(tmp_path), {'net': 'res64', 'classes': ['male', 'female'],
                               'input_size': [72, 72], 'crop_size': [64, 64], 'channels': 3,
                               'net_options': {}})
    reader = tf.train.load_checkpoint(path)
    cfg = config.resolve({'mode': 'train', 'net': 'res64s', 'data_dir': few_faces,
                          'train_dir': '/nonexistent', 'init_from': path},
                         explicit={'net', 'data_dir', 'init_from'})
    values = restored(cfg)
    new = {name for name in values if name.startswith(('net/narrow/', 'net/fc/'))}
    assert new and 'net/narrow/weights' in new
    for name, value in values.items():
        if name in new:
            assert name not in reader.get_variable_to_shape_map(), name
        elif name.startswith('net/'):
            np.testing.assert_array_equal(value, reader.get_tensor(name), err_msg=name)
    # cnn60 shares res64's first convolution and classifier shapes: not a body to lend.
    with pytest.raises(config.ConfigError, match=r'is a res64: it holds [\d,]+ of this '
                                                 r'cnn60\'s [\d,]+ weights.*--net=res64'):
        restored(dataclasses.replace(cfg, net='cnn60'))


def test_a_base_of_another_net_is_refused_before_the_folder_is_claimed(
        trained, few_faces, tmp_path):
    """The line names both nets, and the folder is left unclaimed: the command it asks
    for, into the same --train_dir, is not refused as another network's folder."""
    out = tmp_path / 'mine'
    refused(run_cli('runner.py', '--net=cnn60', f'--init_from={trained["train_dir"]}',
                    f'--data_dir={few_faces}', f'--train_dir={out}', '--folds=0',
                    check=False),
            'is a nn_gender', '--net=nn_gender')
    assert not (out / 'run.json').exists()


def test_mix_data_fills_its_share_of_each_batch_with_its_labels_in_our_classes(
        few_faces, tmp_path):
    """Our classes in another order than the mixed-in dataset's: its faces arrive with our
    indices, about --mix_share of each batch, and only the attributes both carry."""
    src = tmp_path / 'own'
    chips = sorted(os.listdir(UTKFACE))[:40]
    for chip in chips:
        folder = src / ('male' if chip.split('_')[1] == '0' else 'female')
        folder.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.join(UTKFACE, chip), folder / f'own_{chip}')
    own = tmp_path / 'own_records'
    run_cli('-m', 'data.convert', f'--src={src}', f'--out={own}')
    meta = json.load(open(own / 'dataset.json'))
    assert meta['classes'] == ['female', 'male']              # the reverse of UTKFace's
    cfg = types.SimpleNamespace(mix_data=few_faces, mix_share=0.25, class_map=None)
    mix = finetune.mix(cfg, meta)
    assert mix.labels == [1, 0]
    cfg_net = config.resolve({'mode': 'train', 'net': 'cnn60', 'data_dir': str(own)},
                             explicit={'data_dir'})
    with tf.Graph().as_default():
        ds = pipeline.make_dataset(str(own), 'train', cfg_net.image_spec, 32, True, seed=5,
                                   meta=meta, mix=mix)
        batch = v1.data.make_one_shot_iterator(ds).get_next()
        with v1.Session() as sess:
            batches = [sess.run(batch) for _ in range(8)]
    assert not [k for k in batches[0] if k.startswith('attr/')]
    names = [os.path.basename(n.decode()) for b in batches for n in b['filename']]
    labels = [int(l) for b in batches for l in b['label']]
    mixed = [(n, l) for n, l in zip(names, labels) if not n.startswith('own_')]
    assert 0.15 < len(mixed) / len(names) < 0.35, len(mixed)
    for name, label in zip(names, labels):                    # UTKFace: age_gender_race_...
        assert label == (1 if name.replace('own_', '').split('_')[1] == '0' else 0), name
    with pytest.raises(config.ConfigError, match=r'--mix_data=.*female'):
        finetune.mix(cfg, dict(meta, classes=['male', 'cat']))


def test_a_small_folder_is_judged_by_folds_on_every_face_and_trained_on_all(
        trained, few_faces, tmp_path):
    """Fewer eval faces than a comparison needs: every face is answered by a model that
    did not train on it; the counts each way are printed; the report and the calibration
    are of those answers; the model kept trains on all the faces."""
    proc = run_cli('runner.py', f'--data_dir={few_faces}', f'--train_dir={tmp_path}',
                   f'--init_from={trained["train_dir"]}', '--folds=3', '--max_steps=6',
                   '--batch_size=16')
    judged = json.load(open(tmp_path / 'folds.json'))
    assert judged['folds'] == 3 and judged['faces'] == 60, proc.stdout
    by_share = judged['accuracy_by_share']
    base, tuned = by_share['1.0'], by_share[str(judged['tuned_share'])]
    gained, lost = judged['right_only_tuned'], judged['right_only_base']
    assert round((tuned - base) * 60) == gained - lost
    for fold in (1, 2, 3):                       # each fold's run is kept apart, logged
        assert os.path.isfile(tmp_path / 'folds' / str(fold) / 'train.log')
    report = json.load(open(tmp_path / 'eval.json'))
    assert report['split'] == 'out-of-fold' and report['count'] == 60
    assert json.load(open(tmp_path / 'calibration.json'))['count'] == 60
    # The model kept trained on all the faces, the eval split's too.
    assert set(json.load(open(tmp_path / 'run.json'))['train_splits']) == {'train', 'eval'}


def test_a_fine_tuning_made_to_lose_keeps_the_base_and_says_so(few_faces, tmp_path):
    """Fine-tuned mostly on deliberately wrong labels (UTKFace faces in the other gender's
    folder, mixed into every batch), each fold's model answers the user's faces worse than
    the base: the base is kept, weight for weight, and the command says so."""
    names = sorted(n for n in os.listdir(need_shared(UTKFACE)) if n.count('_') >= 3)
    for gender, wrong in (('0', 'female'), ('1', 'male')):
        os.makedirs(tmp_path / 'wrong' / wrong)
        for name in [n for n in names if n.split('_')[1] == gender][:40]:
            os.symlink(os.path.join(UTKFACE, name), tmp_path / 'wrong' / wrong / name)
    run_cli('-m', 'data.convert', f'--src={tmp_path / "wrong"}', f'--out={tmp_path / "mix"}')
    if not released.default():
        pytest.skip(f'no released model {released.DEFAULT} to fine-tune')
    proc = run_cli('runner.py', f'--data_dir={few_faces}', f'--train_dir={tmp_path / "run"}',
                   f'--init_from={released.DEFAULT}', '--folds=2', '--max_steps=30',
                   '--batch_size=16', '--learning_rate=1e-3', f'--mix_data={tmp_path / "mix"}',
                   '--mix_share=0.9', '--seed=3')
    shares = dict(re.findall(r'([\d.]+) (\d+\.\d)%', re.search(
        r"by the base's share of the weights: (.*)", proc.stdout)[1]))
    assert float(shares['0']) < float(shares['1']), proc.stdout     # fine-tuned alone: worse
    assert "fine-tuning did not beat the base on the folds: the base's weights are kept" \
        in proc.stdout, proc.stdout
    base = tf.train.load_checkpoint(os.path.join(released.default(), 'model.ckpt'))
    last = tf.train.latest_checkpoint(str(tmp_path / 'run'))
    assert last.endswith('model.ckpt-1'), last       # the base kept: no epochs trained on
    kept = tf.train.load_checkpoint(last)
    names = [n for n in base.get_variable_to_shape_map() if n.startswith('net/')
             and not n.rsplit('/', 1)[-1].startswith(('Adam', 'Momentum', 'ExponentialMovingAverage'))]
    assert names
    for name in names:
        np.testing.assert_allclose(kept.get_tensor(name), base.get_tensor(name), rtol=1e-5,
                                   atol=1e-6, err_msg=name)


@pytest.mark.parametrize('gained, lost, base_kept', [(1, 0, True), (5, 3, True), (0, 4, True),
                                                     (8, 1, False), (6, 0, False)])
def test_the_folds_keep_fine_tuning_only_when_it_beats_the_base_beyond_chance(gained, lost,
                                                                             base_kept):
    """On the faces the two answer differently a coin must do worse than fine-tuning less
    than once in 20 times (6-0: p = 0.016; 5-3: p = 0.36; 1-0: p = 0.5)."""
    from core.train import folds
    n = 100
    labels = np.zeros(n, np.int64)
    base = labels.copy()
    base[:10] = 1                                    # the base wrong on faces 0-9
    tuned = base.copy()
    tuned[:gained] = 0                               # put right by fine-tuning
    tuned[50:50 + lost] = 1                          # and broken by it
    answers = {share: {'label': labels, 'prediction': tuned} for share in folds.SHARES}
    answers[1.0] = {'label': labels, 'prediction': base}
    halves = [{s: {k: v[:50] for k, v in out.items()} for s, out in answers.items()},
              {s: {k: v[50:] for k, v in out.items()} for s, out in answers.items()}]
    judgement = folds.judge(halves, base_whole=True)
    assert (judgement.share == 1.0) == base_kept, judgement.lines
    assert judgement.lines[-1].startswith('fine-tuning did not beat the base' if base_kept
                                          else 'kept: the fine-tuned weights')
