"""Recipe options on a few dozen steps of real faces: weight averaging, auxiliary heads, CutMix,
colour augmentation."""
import math
import os

import numpy as np
import tensorflow as tf

from conftest import refused, run_cli


def test_the_export_holds_the_averaged_weights_not_the_last_ones(utk_records, tmp_path):
    train_dir, export_dir = tmp_path / 'run', tmp_path / 'export'
    proc = run_cli('runner.py', '--net=nn_gender', '--input_size=40', '--batch_size=32',
                   f'--data_dir={utk_records}', f'--train_dir={train_dir}', '--max_steps=20',
                   '--eval_every=20', '--moving_average_decay=0.9')
    assert 'eval at step 20' in proc.stdout
    trained = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(train_dir)))
    name = 'net/conv1/weights'
    raw, average = (trained.get_tensor(name), trained.get_tensor(name + '/ExponentialMovingAverage'))
    assert not np.allclose(raw, average)          # 20 steps: the average lags the weights
    run_cli('runner.py', '--mode=export', f'--train_dir={train_dir}', '--checkpoint=last',
            f'--export_dir={export_dir}')
    exported = tf.train.load_checkpoint(os.path.join(export_dir, 'variables', 'variables'))
    np.testing.assert_array_equal(exported.get_tensor(name), average)
    # The setting is recorded: later modes need not repeat it.
    proc = run_cli('runner.py', '--mode=eval', f'--train_dir={train_dir}', '--checkpoint=last')
    assert 'accuracy' in proc.stdout


def test_auxiliary_heads_add_their_loss_and_need_the_attribute(utk_records, tmp_path):
    """Same seed, same data: with age and race heads the first loss carries their
    cross-entropies (about 0.3 x (ln 8 + ln 9) more), and the heads are in the checkpoint; the
    race head tells UTKFace's and FairFace's races apart (data.sources.RACES)."""
    def first_loss(name, *extra):
        proc = run_cli('runner.py', '--net=nn_gender', '--input_size=40', '--batch_size=32',
                       f'--data_dir={utk_records}', f'--train_dir={tmp_path / name}',
                       '--max_steps=2', '--log_every=1', '--seed=5', *extra)
        return float(proc.stdout.split('step 1/2')[1].split('loss ')[1].split()[0])
    plain = first_loss('plain')
    with_heads = first_loss('aux', '--aux_tasks=age,race')
    assert with_heads - plain > 0.5, (plain, with_heads)
    stored = dict(tf.train.list_variables(str(tmp_path / 'aux')))
    assert 'net/aux_age/logits/weights' in stored and stored['net/aux_race/logits/weights'][-1] == 9


def test_an_auxiliary_head_without_its_attribute_is_one_line(utk_records, tmp_path):
    """In the records or in --mix_data's; with both carrying it, the two train together."""
    import shutil
    from conftest import UTKFACE
    names = sorted(os.listdir(UTKFACE))[:40]
    for i, name in enumerate(names):
        folder = tmp_path / 'photos' / ('a' if i % 2 else 'b')
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(os.path.join(UTKFACE, name), folder / name)
    run_cli('-m', 'data.convert', f'--src={tmp_path / "photos"}', f'--out={tmp_path / "rec"}')
    for data, mix in ((tmp_path / 'rec', None), (utk_records, tmp_path / 'rec')):
        proc = run_cli('runner.py', f'--data_dir={data}', f'--train_dir={tmp_path / "r"}',
                       '--aux_tasks=age', *([f'--mix_data={mix}'] if mix else []), check=False)
        refused(proc, '--aux_tasks=age', tmp_path / 'rec')
    assert not os.path.exists(tmp_path / 'r')
    both = run_cli('runner.py', '--net=nn_gender', '--input_size=40', '--batch_size=32',
                   f'--data_dir={utk_records}', f'--mix_data={utk_records}',
                   f'--train_dir={tmp_path / "both"}', '--aux_tasks=age,race', '--max_steps=2')
    assert 'step 2/2' in both.stdout


def test_cutmix_and_colour_changes_train_on_real_faces(utk_records, tmp_path):
    def losses(name, *extra):
        proc = run_cli('runner.py', '--net=cnn60', '--batch_size=32', f'--data_dir={utk_records}',
                       f'--train_dir={tmp_path / name}', '--max_steps=4', '--log_every=1',
                       '--eval_every=4', '--seed=5', *extra)
        return [float(line.split('loss ')[1].split()[0])
                for line in proc.stdout.splitlines() if line.startswith('step ')]
    plain = losses('plain')
    cutmix = losses('cutmix', '--cutmix_alpha=1.0')
    assert len(cutmix) == 4 and all(np.isfinite(cutmix))
    assert cutmix != plain                         # the mixed batches change the loss
    assert losses('again', '--cutmix_alpha=1.0') == cutmix
    colour = losses('colour', '--saturation=0.5', '--hue=0.05', '--grayscale=0.2')
    assert len(colour) == 4 and all(np.isfinite(colour)) and colour != plain


def test_balanced_sampling_evens_out_the_races_of_a_stream(utk_records):
    """UTKFace is half White: drawn with --balance=1 every race x class x age group is as
    likely, so the share of the largest race falls and that of the smallest rises."""
    from data import pipeline, preprocess, records
    meta = records.read_meta(utk_records)
    spec = preprocess.ImageSpec((40, 40), (40, 40), 3)

    def race_shares(balance, splits=('train',), fold=None):
        ds = pipeline.make_dataset(utk_records, splits, spec, 50, True, seed=1, meta=meta,
                                   balance=balance, fold=fold)
        races = np.concatenate([b['attr/race'].numpy() for b in ds.take(40)])
        return np.bincount(races, minlength=5) / len(races)
    plain, balanced = race_shares(0.0), race_shares(1.0)
    assert plain[0] > 0.4 and balanced[0] < plain[0] - 0.1, (plain, balanced)
    assert balanced.min() > plain.min() + 0.05, (plain, balanced)
    # as a fine-tuning judged by folds draws it: every split, all folds but one
    folded = race_shares(1.0, ('train', 'eval'), (0, 3, False))
    assert folded[0] < plain[0] - 0.1 and folded.min() > plain.min() + 0.05, (plain, folded)


def test_hiding_the_hair_greys_what_lies_above_the_brows_or_around_the_inner_face():
    from data import preprocess
    image = tf.ones([64, 64, 3]) * 0.9
    brow = math.ceil(preprocess.BROW_LINE * 64)
    kinds = set()
    for i in range(12):
        out = preprocess.hide_hair(image, 1.0, tf.constant([i, 7], tf.int64)).numpy()
        assert np.all(out[:brow] == 0.5) and np.all(out[brow:, 20:44] == 0.9)
        kinds.add(bool(np.all(out[brow:, :8] == 0.5)))      # the sides too, or not
    assert kinds == {True, False}
    kept = preprocess.hide_hair(image, 0.0, tf.constant([1, 2], tf.int64)).numpy()
    assert np.all(kept == 0.9)
    # faces stored with a wider border: the brows lie lower, the cheeks nearer the middle
    brow = math.ceil(preprocess.in_frame(preprocess.BROW_LINE, 0.2) * 64)
    out = preprocess.hide_hair(image, 1.0, tf.constant([0, 7], tf.int64), margin=0.2).numpy()
    assert brow > 16 and np.all(out[:brow] == 0.5) and np.all(out[brow:, 24:40] == 0.9)


def test_hiding_the_hair_from_an_age_on_leaves_the_younger_faces_whole(utk_records):
    """--hide_hair_from_age=20: the hair of every face of 20 or older (and of no recorded
    age) is hidden as --hide_hair draws it, the younger faces keep theirs; through the
    training stream, which hands each face its recorded age."""
    from data import pipeline, preprocess, records
    meta = records.read_meta(utk_records)
    brow = math.ceil(preprocess.BROW_LINE * 40)
    for from_age in (0, 20):
        spec = preprocess.ImageSpec((40, 40), (40, 40), 3, hide_hair=1.0,
                                    hide_hair_from_age=from_age)
        batch = next(iter(pipeline.make_dataset(utk_records, 'train', spec, 200, True, seed=1,
                                                meta=meta)))
        greyed = np.all(batch['image'].numpy()[:, :brow] == 0.0, axis=(1, 2, 3))
        ages = batch['attr/age'].numpy()
        assert (ages < 20).sum() >= 10 and (ages >= 20).sum() >= 10, ages
        assert np.all(greyed[ages >= 20]), from_age
        young = greyed[ages < 20]
        assert young.all() if from_age == 0 else not young.any(), (from_age, ages[greyed])
    unknown = preprocess.hair_probability(spec, tf.constant(-1, tf.int64))
    assert float(unknown) == 1.0


def test_hiding_the_hair_from_an_age_needs_the_hair_hidden_and_ages(utk_records, tmp_path):
    proc = run_cli('runner.py', '--net=nn_gender', f'--data_dir={utk_records}',
                   f'--train_dir={tmp_path}', '--hide_hair_from_age=20', check=False)
    refused(proc, '--hide_hair_from_age=20', '--hide_hair')
    assert not os.listdir(tmp_path)
