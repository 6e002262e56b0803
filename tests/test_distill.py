"""Distillation (--teacher) and ensembles (--ensemble) on real faces and a real teacher."""
import os

import numpy as np
import pytest
import tensorflow as tf

import modes
from conftest import UTKFACE, run_cli
from core import config
from core.train import distill
from data import records

v1 = tf.compat.v1


def test_the_soft_loss_is_the_tempered_kl_mixed_with_the_labels_loss():
    cfg = config.RunConfig(distill_weight=0.75, distill_temperature=2.0)
    names = np.array([b'a.jpg', b'b.jpg'], dtype='S')
    targets = np.array([[0.9, 0.1], [0.2, 0.8]], np.float32)
    logits = np.array([[1.0, -1.0], [0.5, 0.0], [3.0, 0.0]], np.float32)
    with tf.Graph().as_default():
        batch = {'filename': tf.constant([b'b.jpg', b'a.jpg', b'unknown.jpg'])}
        total = distill.loss(tf.constant(logits), batch, cfg, tf.constant(0.4), (names, targets))
        with v1.Session() as sess:
            sess.run(v1.tables_initializer())
            value = sess.run(total)
    student = logits[:2] / 2.0
    student = student - np.log(np.exp(student).sum(1, keepdims=True))
    soft = targets[[1, 0]]
    kl = (soft * (np.log(soft) - student)).sum(1).mean()     # the unknown face has no target
    assert value == pytest.approx(0.25 * 0.4 + 0.75 * 4.0 * kl, rel=1e-5)


def test_a_teacher_teaches_once_and_an_ensemble_of_one_twice_is_that_model(trained, capsys,
                                                                           tmp_path):
    train_dir = str(tmp_path / 'student')
    values = {'mode': 'train', 'net': 'nn_gender', 'data_dir': trained['data_dir'],
              'train_dir': train_dir, 'teacher': [trained['train_dir']], 'input_size': '40',
              'batch_size': 32, 'max_steps': 4, 'eval_every': 4}
    modes.run(config.resolve(values, explicit=set(values)))
    out = capsys.readouterr().out
    assert 'teacher ' in out and f'training faces of {trained["data_dir"]} (flip averaged)' in out
    cached = np.load(os.path.join(train_dir, distill.CACHE_FILE))
    np.testing.assert_allclose(cached['targets'].sum(1), 1.0, rtol=1e-5)
    assert len(cached['filename']) == len(set(cached['filename'])) > 100
    values['max_steps'] = 6                    # resumed: the cached targets, no second pass
    modes.run(config.resolve(values, explicit=set(values)))
    assert 'teacher ' not in capsys.readouterr().out

    cfg = config.resolve({'mode': 'eval', 'train_dir': trained['train_dir'],
                          'ensemble': [trained['train_dir']]}, explicit={'ensemble'})
    single = distill.split_logits(trained['train_dir'], cfg.data_dir, 'eval')
    both = modes.run(cfg)
    assert both['accuracy'] == pytest.approx(np.mean(single['logits'].argmax(1) ==
                                                     single['label']))
    assert os.path.isfile(os.path.join(trained['train_dir'], 'best', 'eval_ensemble.json'))


def test_the_faces_of_mix_data_are_taught_too_under_this_runs_class_names(trained, tmp_path):
    """A user's folder (classes man, woman: UTKFace's male, female by another name) of chips
    the teacher's records also hold, renamed, with those records mixed in: every training face
    of both gets a target, and a face gets the same target under either name."""
    meta = records.read_meta(trained['data_dir'])
    chips = [f['filename'].decode() for f in records.faces_of(trained['data_dir'], meta, 'train')]
    for chip in chips[:60]:
        folder = tmp_path / 'own' / ('man' if chip.split('_')[1] == '0' else 'woman')
        folder.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.join(UTKFACE, chip), folder / f'own_{chip}')
    own = tmp_path / 'own_records'
    run_cli('-m', 'data.convert', f'--src={tmp_path / "own"}', f'--out={own}')
    values = {'mode': 'train', 'net': 'nn_gender', 'data_dir': str(own), 'input_size': '40',
              'mix_data': trained['data_dir'], 'teacher': [trained['train_dir']],
              'train_dir': str(tmp_path / 'student'), 'batch_size': 16, 'max_steps': 1}
    cfg = config.resolve(values, explicit=set(values))
    assert cfg.classes == ['man', 'woman']
    names, targets = distill.soft_targets(cfg)
    own_names = [f['filename'] for f in records.faces_of(str(own), records.read_meta(own),
                                                         'train')]
    assert sorted(names.tolist()) == sorted(own_names + [c.encode() for c in chips])
    target = dict(zip(names.tolist(), targets))
    chip_of = {n: os.path.basename(n.decode()).removeprefix('own_') for n in own_names}
    same = [n for n in own_names if chip_of[n] in chips]    # the rest went to eval in one
    assert same
    for name in same:
        np.testing.assert_allclose(target[name], target[chip_of[name].encode()], atol=1e-5)

    values.update(data_dir=trained['data_dir'], train_dir=str(tmp_path / 'twice'))
    with pytest.raises(config.ConfigError, match='both have a training face named'):
        distill.soft_targets(config.resolve(values, explicit=set(values)))


def test_members_classes_match_by_name_as_eval_does():
    member = {'classes': ['male', 'female']}
    assert distill._columns(member, ['woman', 'man'], 'base') == [1, 0]
    assert distill._columns(member, ['a', 'b'], 'base', ['a=female', 'b=male']) == [1, 0]
    with pytest.raises(config.ConfigError, match='^base.*male, female.*cat, dog'):
        distill._columns(member, ['cat', 'dog'], 'base')
