"""Preparation of real photos: detection, filter, alignment, duplicates, layouts, reports."""
import json
import math
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from conftest import BAD_INPUTS, SHARED, UTKFACE, manifest, need_shared, run_cli
from data import faces, records
from data.prepare import FaceSettings, prepare

PORTRAITS = os.path.join(SHARED, 'datasets', 'portraits')
STRICT = FaceSettings(face_size=300, filters='strict')


@pytest.fixture(scope='module')
def portraits(tmp_path_factory):
    """All 100 shared portraits prepared with the post's filter (--filters=strict), faces
    stored at 300 px so that the eye line can be re-measured finely."""
    need_shared(PORTRAITS)
    out = str(tmp_path_factory.mktemp('portraits'))
    report = prepare(PORTRAITS, out, STRICT, workers=2)
    return out, report


def test_default_filters_keep_the_faces_a_classifier_can_use(tmp_path):
    """Faces are aligned, so roll is no reason to reject; 90 of the 100 portraits or more
    are kept, and every rejection says why."""
    need_shared(PORTRAITS)
    report = prepare(PORTRAITS, str(tmp_path), FaceSettings(), workers=2)
    assert report['final_images'] >= 90, report['rejected']
    assert all(r['reason'] for r in report['rejected'])
    assert not any(r['reason'].startswith('roll') for r in report['rejected'])


def test_accepted_portraits_have_level_eyes(portraits):
    out, report = portraits
    assert report['accepted'] >= 10
    detector = faces.get_detector()
    crops = [f for f in os.listdir(os.path.join(out, 'faces', STRICT.key()))
             if f.endswith('.png')]
    assert len(crops) == report['accepted']
    angles = []
    for name in crops:
        crop = np.asarray(Image.open(os.path.join(out, 'faces', STRICT.key(),
                                                  name)).convert('RGB'))
        assert crop.shape == (300, 300, 3)
        found = detector.detect(crop, min_face=faces.DETECTABLE_FACE)   # at full resolution
        assert found, f'{name}: no face found again in the aligned crop'
        # Landmarks unrounded (mtcnn rounds its own to whole pixels: +-0.7 degrees here).
        again = detector.landmarks_in_box(crop, faces.square_around(found[0].box))
        angles.append(eye_line_angle(again or found[0]))
    print('eye-line angles after alignment:', np.round(angles, 2).tolist())
    assert max(abs(a) for a in angles) <= 2.0


def eye_line_angle(face):
    """Degrees the line from the left eye to the right one turns from level."""
    left, right, _, _ = faces._eyes_mouth(face)
    dx, dy = right - left
    return math.degrees(math.atan2(dy, dx))


def test_rejected_portraits_carry_reasons_and_measurements(portraits):
    out, report = portraits
    assert report['photos'] == 100
    assert report['accepted'] + len(report['rejected']) == 100
    for row in report['rejected']:
        assert row['reason']
        if row['reason'] != 'no face found':
            assert {'roll', 'yaw', 'pitch', 'confidence', 'face_px'} <= set(row['values'])
    assert set(report['rejected_by_reason']) <= {'no face found', 'roll', 'yaw', 'pitch',
                                                 'face too small', 'low detector confidence',
                                                 'several faces'}
    text = open(os.path.join(out, 'report.txt')).read()
    assert 'rejected by reason' in text and 'class balance' in text
    for picture in ('sizes.png', 'accepted.png', 'rejected.png'):
        assert Image.open(os.path.join(out, picture)).size[0] > 100
    meta = records.read_meta(out)
    assert meta['classes'] == ['man', 'woman'] and meta['faces']['max_roll'] == 5.0


def test_a_rerun_reuses_every_finished_photo(portraits, capsys):
    out, report = portraits
    capsys.readouterr()
    again = prepare(PORTRAITS, out, STRICT, workers=1)
    assert again['reused'] == 100 and again['accepted'] == report['accepted']


def utk_examples(data_dir):
    meta = records.read_meta(data_dir)
    out = []
    for split in meta['splits']:
        for path in records.shard_files(data_dir, meta, split):
            for raw in tf.data.TFRecordDataset(path).as_numpy_iterator():
                f = tf.train.Example.FromString(raw).features.feature
                out.append({k: f[f'image/attr/{k}'].int64_list.value[0]
                            for k in ('age', 'gender', 'race')}
                           | {'text': f['image/class/text'].bytes_list.value[0].decode(),
                              'name': f['image/filename'].bytes_list.value[0].decode()})
    return meta, out


@pytest.mark.parametrize('label', ['gender', 'age_gender'])
def test_utkface_import_keeps_labels_and_attributes(tmp_path, label):
    need_shared(UTKFACE)
    prepare(UTKFACE, str(tmp_path), FaceSettings(detect='off'), layout='utkface', label=label,
            workers=1, limit=200)
    meta, examples = utk_examples(str(tmp_path))
    assert meta['attributes'] == ['age', 'gender', 'race']
    assert len(meta['classes']) == (2 if label == 'gender' else 10)
    assert meta['typical_size'] == [100, 100]
    for ex in examples:
        age, gender, race = (int(v) for v in ex['name'].split('_')[:3])
        assert (ex['age'], ex['gender'], ex['race']) == (age, gender, race)
        sex = ['male', 'female'][gender]
        if label == 'gender':
            assert ex['text'] == sex
        else:
            decade = min(age // 10 * 10, 60)
            assert ex['text'] == f'{sex}_{decade}s' if decade < 60 else f'{sex}_60+'
            assert age >= 20


def test_exact_and_near_duplicates_are_dropped_before_the_split(tmp_path):
    need_shared(UTKFACE)
    names = sorted(os.listdir(UTKFACE))[:12]
    src = tmp_path / 'src' / 'faces'
    src.mkdir(parents=True)
    for n in names:
        shutil.copy(os.path.join(UTKFACE, n), src / n)
    original = Image.open(os.path.join(UTKFACE, names[0]))
    shutil.copy(os.path.join(UTKFACE, names[0]), src / 'copy.jpg')
    original.save(src / 'requality.jpg', quality=35)
    original.resize((120, 120)).save(src / 'resized.jpg', quality=90)
    report = prepare(str(tmp_path / 'src'), str(tmp_path / 'out'), FaceSettings(detect='off'),
                     workers=1)
    assert [d['dropped'] for d in report['exact_duplicates']] == ['faces/copy.jpg'] or \
        [d['kept'] for d in report['exact_duplicates']] == ['faces/copy.jpg']
    near = {d['dropped'] for d in report['near_duplicates']} | {
        d['kept'] for d in report['near_duplicates']}
    assert {'faces/requality.jpg', 'faces/resized.jpg'} <= near
    assert report['final_images'] == 12


def test_every_bad_input_goes_through_prepare_as_the_manifest_says(tmp_path):
    rows = manifest()
    src = tmp_path / 'src' / 'odd'
    src.mkdir(parents=True)
    for name in rows:
        shutil.copy(os.path.join(BAD_INPUTS, name), src / name)
    proc = run_cli('-m', 'data.prepare', f'--src={tmp_path / "src"}',
                   f'--out={tmp_path / "out"}', '--workers=2')
    assert 'Traceback' not in proc.stdout + proc.stderr
    report = json.load(open(tmp_path / 'out' / 'report.json'))
    reasons = {os.path.basename(r['file']): r['reason'] for r in report['rejected']}
    duplicates = {os.path.basename(d['dropped']) for d in report['exact_duplicates']}
    decode_errors = ('empty file', 'truncated', 'not an image', 'not a recognised image',
                     'vector images', 'too large', 'too small', 'cannot read', 'cannot decode')
    for name, action in rows.items():
        reason = reasons.get(name, '')
        if name in duplicates:
            continue                      # byte-identical to another file: kept once
        if name == 'no_face.jpg':
            assert reason == 'no face found'
        elif name == 'tiny.png':
            assert reason.startswith('too small')
        elif name == 'two_faces.jpg':
            assert reason.startswith('2 faces'), reason   # side by side: neither the subject
        elif name == 'upside_down.jpg':
            pass                          # no face, or a rejected pose: only no crash
        elif action.startswith(('skip', 'refuse')):
            assert any(k in reason for k in decode_errors), (name, reason)
        else:                             # decodable one-face photos: a face is found
            assert reason != 'no face found' and not any(k in reason for k in decode_errors), \
                (name, reason)
    assert 'refused before decoding' in reasons['bomb.png']


def test_one_command_prepares_a_photo_folder_then_trains(tmp_path):
    need_shared(UTKFACE)
    names = sorted(os.listdir(UTKFACE))
    for gender, folder in (('0', 'male'), ('1', 'female')):
        (tmp_path / 'photos' / folder).mkdir(parents=True)
        for n in [n for n in names if n.split('_')[1] == gender][:125]:
            shutil.copy(os.path.join(UTKFACE, n), tmp_path / 'photos' / folder / n)
    args = ('runner.py', f'--data_dir={tmp_path / "photos"}', '--detect=off',
            f'--prepared_dir={tmp_path / "prepared"}', f'--train_dir={tmp_path / "run"}',
            '--max_steps=3', '--batch_size=8', '--log_every=1')
    first = run_cli(*args)
    assert 'Preparing the photos' in first.stdout and 'step 3/3' in first.stdout
    assert os.path.isfile(tmp_path / 'prepared' / 'dataset.json')
    second = run_cli(*args)
    assert records.read_meta(str(tmp_path / 'prepared'))  # still whole
    assert json.load(open(tmp_path / 'prepared' / 'report.json'))['reused'] == 250
    assert 'Resuming from step 3' in second.stdout


def test_the_compiled_detector_finds_what_the_eager_one_finds():
    """The detector runs mtcnn's stages as tf.functions (twice as fast); they must find the
    same faces and landmarks as mtcnn's own eager stages, and still be there after an
    mtcnn upgrade (they replace a private attribute of mtcnn 1.0.0)."""
    import tensorflow as tf
    from data.images import load_rgb
    need_shared(PORTRAITS)
    compiled = faces.get_detector()
    assert all(isinstance(stage._model, tf.types.experimental.PolymorphicFunction)
               for stage in compiled._mtcnn.stages)
    eager = faces.MtcnnDetector(compiled=False)
    for folder in ('man', 'woman'):
        for name in sorted(os.listdir(os.path.join(PORTRAITS, folder)))[:2]:
            rgb = load_rgb(os.path.join(PORTRAITS, folder, name))
            ours, theirs = compiled.detect(rgb), eager.detect(rgb)
            assert len(ours) == len(theirs) >= 1, name
            for a, b in zip(ours, theirs):
                np.testing.assert_allclose(a.box, b.box, atol=1.0)
                for key in faces.ONET_LANDMARKS:
                    np.testing.assert_allclose(a.landmarks[key], b.landmarks[key], atol=1.0)


def test_label_names_name_numbered_class_folders_when_training(tmp_path):
    """README's way to name folders 0/ and 1/: --label_names, in runner.py as in data.prepare."""
    from core.store import released
    if not released.default():
        pytest.skip(f'no released model {released.DEFAULT} to fine-tune')
    portraits = need_shared(PORTRAITS)
    for number, cls in enumerate(('man', 'woman')):
        os.makedirs(tmp_path / 'photos' / str(number))
        for name in sorted(os.listdir(os.path.join(portraits, cls)))[:14]:
            shutil.copy(os.path.join(portraits, cls, name), tmp_path / 'photos' / str(number))
    run_cli('runner.py', f'--data_dir={tmp_path / "photos"}', '--label_names=male,female',
            f'--prepared_dir={tmp_path / "records"}', f'--train_dir={tmp_path / "run"}',
            f'--init_from={released.DEFAULT}', '--max_steps=2', '--folds=0')
    assert json.load(open(tmp_path / 'run' / 'run.json'))['classes'] == ['male', 'female']


def test_a_photo_with_its_subject_and_a_smaller_face_keeps_the_subject(tmp_path):
    """A portrait with another, much smaller, portrait pasted beside it: the default
    (--multi_face=subject) keeps the large face and says so; two faces of one size are
    rejected, naming the reason."""
    need_shared(PORTRAITS)
    woman = Image.open(os.path.join(PORTRAITS, 'woman', sorted(os.listdir(
        os.path.join(PORTRAITS, 'woman')))[0])).convert('RGB')
    man = Image.open(os.path.join(PORTRAITS, 'man', sorted(os.listdir(
        os.path.join(PORTRAITS, 'man')))[0])).convert('RGB')
    woman.thumbnail((600, 600))
    for name, scale in (('subject', 0.3), ('pair', 1.0)):
        small = man.resize((int(woman.width * scale), int(woman.height * scale)))
        canvas = Image.new('RGB', (woman.width + small.width + 20, woman.height), 'white')
        canvas.paste(woman, (0, 0))
        canvas.paste(small, (woman.width + 20, 0))
        os.makedirs(tmp_path / 'photos' / 'woman', exist_ok=True)
        canvas.save(tmp_path / 'photos' / 'woman' / f'{name}.jpg', quality=95)
    report = prepare(str(tmp_path / 'photos'), str(tmp_path / 'out'), FaceSettings(), workers=1)
    kept = {os.path.basename(k['file']): k for k in report['subjects']}
    assert set(kept) == {'subject.jpg'} and kept['subject.jpg']['faces'] == 2
    rejected = {os.path.basename(r['file']): r for r in report['rejected']}
    assert rejected['pair.jpg']['reason'].startswith('2 faces, none clearly the subject')
    x, y, w, h = kept['subject.jpg']['box']
    assert x + w / 2 < woman.width, 'the kept face is the large one, on the left'
    assert Image.open(tmp_path / 'out' / 'subjects.png').size[0] > 100
