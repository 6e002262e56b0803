"""Conversion of real faces and of awkward files into TFRecords."""
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from conftest import BAD_INPUTS, UTKFACE, manifest, need_shared, run_cli
from data import records
from data.convert import convert
from data.images import load_rgb


def read_records(data_dir, split):
    meta = records.read_meta(data_dir)
    out = []
    for path in records.shard_files(data_dir, meta, split):
        for raw in tf.data.TFRecordDataset(path).as_numpy_iterator():
            ex = tf.train.Example.FromString(raw).features.feature
            out.append({
                'image': tf.io.decode_jpeg(ex['image/encoded'].bytes_list.value[0]).numpy(),
                'label': ex['image/class/label'].int64_list.value[0],
                'text': ex['image/class/text'].bytes_list.value[0].decode(),
                'filename': ex['image/filename'].bytes_list.value[0].decode(),
                'height': ex['image/height'].int64_list.value[0],
                'age': ex['image/attr/age'].int64_list.value[0]})
    return out


def test_utkface_subset_decodes_to_its_sources_with_gender_labels(utk_records):
    meta = records.read_meta(utk_records)
    assert meta['classes'] == ['male', 'female']
    assert meta['splits']['train']['count'] + meta['splits']['eval']['count'] > 350
    eval_share = meta['splits']['eval']['count'] / (meta['splits']['eval']['count']
                                                   + meta['splits']['train']['count'])
    assert 0.07 < eval_share < 0.13
    rows = read_records(utk_records, 'train') + read_records(utk_records, 'eval')
    assert len({r['filename'] for r in rows}) == len(rows)
    for row in rows[:60]:
        age, gender = (int(f) for f in row['filename'].split('_')[:2])
        assert row['label'] == gender and row['text'] == ['male', 'female'][gender]
        assert row['age'] == age
        source = load_rgb(os.path.join(UTKFACE, row['filename']))
        assert row['image'].shape == source.shape
        # Re-encoded at JPEG quality 95: the same picture up to compression noise.
        assert np.abs(row['image'].astype(int) - source).mean() < 3.0


def make_folders(root, files_by_class):
    for cls, files in files_by_class.items():
        os.makedirs(root / cls, exist_ok=True)
        for f in files:
            shutil.copy(f, root / cls / os.path.basename(f))


def utk_faces(n, gender):
    names = sorted(f for f in os.listdir(need_shared(UTKFACE)) if f.split('_')[1] == gender)
    return [os.path.join(UTKFACE, f) for f in names[:n]]


def test_label_folders_split_stratified_and_rerun_reuses_finished_shards(tmp_path, capsys):
    src = tmp_path / 'src'
    make_folders(src, {'female': utk_faces(30, '1'), 'male': utk_faces(30, '0')})
    shutil.copy(src / 'male' / os.listdir(src / 'male')[0], src / 'male' / 'copy.jpg')
    out = tmp_path / 'out'
    meta = convert(str(src), str(out), shard_size=20, workers=1)
    assert meta['classes'] == ['female', 'male']
    assert meta['splits']['eval']['per_class'] == {'female': 3, 'male': 3}
    assert len(meta['duplicates']) == 1 and meta['duplicates'][0]['dropped'] == 'male/copy.jpg'
    assert (out / 'labels.txt').read_text() == '0:female\n1:male\n'
    # A killed run: a half-written shard and no dataset.json. The rerun finishes the job
    # and reuses every shard that was complete.
    os.remove(out / records.META_FILE)
    victim = sorted(p for p in os.listdir(out) if p.endswith('.tfrecord'))[0]
    os.rename(out / victim, out / f'{victim}.tmp')
    capsys.readouterr()
    again = convert(str(src), str(out), shard_size=20, workers=1)
    assert 'already written: reusing them' in capsys.readouterr().out
    assert again['splits'] == meta['splits']
    assert not [p for p in os.listdir(out) if p.endswith('.tmp')]


def test_presplit_folders_keep_their_split(tmp_path):
    src = tmp_path / 'src'
    make_folders(src / 'train', {'0': utk_faces(8, '0'), '1': utk_faces(8, '1')})
    make_folders(src / 'eval', {'0': utk_faces(10, '0')[8:], '1': utk_faces(10, '1')[8:]})
    meta = convert(str(src), str(tmp_path / 'out'), workers=1, label_names=['male', 'female'])
    assert meta['classes'] == ['male', 'female']
    assert meta['splits']['train']['count'] == 16 and meta['splits']['eval']['count'] == 4


def test_file_names_that_are_not_utf8_are_kept_and_written_readably(tmp_path):
    # Linux allows any bytes in a name (an old camera's Latin-1 'café', say): the face
    # is kept, and reports and records name it with the odd byte spelt out.
    src = tmp_path / 'src'
    make_folders(src, {'female': utk_faces(4, '1'), 'male': utk_faces(4, '0')})
    shutil.copy(utk_faces(5, '0')[4], os.fsencode(src / 'male') + b'/caf\xe9.jpg')
    meta = convert(str(src), str(tmp_path / 'out'), workers=1, eval_fraction=0)
    names = [tf.train.Example.FromString(raw).features.feature['image/filename']
             .bytes_list.value[0].decode()
             for path in records.shard_files(str(tmp_path / 'out'), meta, 'train')
             for raw in tf.data.TFRecordDataset(path).as_numpy_iterator()]
    assert 'male/caf\\xe9.jpg' in names and len(names) == 9
    assert meta['splits']['train']['per_class']['male'] == 5


def test_every_bad_input_goes_through_conversion_as_the_manifest_says(tmp_path):
    rows = manifest()
    src = tmp_path / 'src'
    make_folders(src, {'odd': [os.path.join(BAD_INPUTS, n) for n in rows],
                       'face': utk_faces(5, '0')})
    proc = run_cli('-m', 'data.convert', f'--src={src}', f'--out={tmp_path / "out"}',
                   '--workers=2')
    assert 'Traceback' not in proc.stdout + proc.stderr
    meta = json.load(open(tmp_path / 'out' / records.META_FILE))
    skipped = {os.path.basename(rel): reason for rel, reason in meta['skipped']}
    for name, action in rows.items():
        refuse = action.startswith(('skip', 'refuse')) and 'no face' not in action
        if name == 'tiny.png':
            refuse = True                      # too small to hold a face at all
        assert (name in skipped) == refuse, f'{name}: manifest says {action!r}'
        if refuse:
            assert f'skip odd/{name}: {skipped[name]}' in proc.stdout
    total = sum(s['count'] for s in meta['splits'].values())
    assert total == 5 + len(rows) - len(skipped) - len(meta['duplicates'])
    assert 'refused before decoding' in skipped['bomb.png']
    assert 'report.txt' in os.listdir(tmp_path / 'out')


def test_not_a_dataset_says_how_to_make_one(tmp_path):
    with pytest.raises(FileNotFoundError, match='python -m data.convert'):
        records.read_meta(str(tmp_path))


def test_fairface_rows_keep_gender_race_and_age_band_and_report_bad_rows(tmp_path):
    """FairFace's label CSV (file,age,gender,race,service_test; two age bands mangled into
    dates by a spreadsheet), the files relative to it: made here from real shared faces."""
    faces = utk_faces(4, '0') + utk_faces(4, '1')
    (tmp_path / 'train').mkdir()
    rows = [('Male', 'East Asian', '03-Sep'), ('Male', 'Black', '20-29'),
            ('Male', 'Latino_Hispanic', 'Oct-19'), ('Male', 'Middle Eastern', 'more than 70'),
            ('Female', 'Southeast Asian', '0-2'), ('Female', 'Indian', '30-39'),
            ('Female', 'White', '50-59'), ('Female', 'East Asian', '3-9')]
    lines = ['file,age,gender,race,service_test']
    for i, (source, (gender, race, age)) in enumerate(zip(faces, rows)):
        shutil.copy(source, tmp_path / 'train' / f'{i}.jpg')
        lines.append(f'train/{i}.jpg,{age},{gender},{race},TRUE')
    lines += ['train/missing.jpg,20-29,Male,White,FALSE',       # no such file
              'train/0.jpg,20-29,Unknown,White,FALSE']           # not a gender
    (tmp_path / 'labels.csv').write_text('\n'.join(lines) + '\n')
    out = tmp_path / 'records'
    proc = run_cli('-m', 'data.convert', f'--src={tmp_path / "labels.csv"}', '--layout=fairface',
                   f'--out={out}', '--eval_fraction=0')
    assert 'skip train/missing.jpg: no such file' in proc.stdout
    assert "unknown gender 'Unknown'" in proc.stdout
    meta = records.read_meta(str(out))
    assert meta['classes'] == ['male', 'female'] and meta['attributes'] == ['age', 'race']
    found = {}
    for path in records.shard_files(str(out), meta, 'train'):
        for raw in tf.data.TFRecordDataset(path).as_numpy_iterator():
            ex = tf.train.Example.FromString(raw).features.feature
            found[ex['image/filename'].bytes_list.value[0].decode()] = (
                ex['image/class/text'].bytes_list.value[0].decode(),
                ex['image/attr/race'].int64_list.value[0], ex['image/attr/age'].int64_list.value[0])
    from data.sources import RACES
    from core.evaluate.groups import age_group
    assert len(found) == 8
    for i, (gender, race, age) in enumerate(rows):
        text, race_index, first_year = found[f'train/{i}.jpg']
        assert text == gender.lower() and RACES[race_index] == race
        band = {'03-Sep': '0-9', '0-2': '0-9', '3-9': '0-9', 'Oct-19': '10-19',
                'more than 70': '70+'}.get(age, age)
        assert age_group(first_year) == band


def test_records_are_tensorflows_bytes_and_read_back_without_it(tmp_path):
    """data/tfrecord.py writes what tf.io.TFRecordWriter writes; records.faces_of reads what
    TensorFlow reads; a file cut short or changed is Damaged, never a partial answer."""
    from data import tfrecord
    payloads = [records.make_example(b'\xff\xd8jpeg', i % 2, 'man', 100, 100, f'f{i}.jpg',
                                     {'age': 30 + i}) for i in range(3)]
    ours, theirs = tmp_path / 'ours.tfrecord', tmp_path / 'theirs.tfrecord'
    with tfrecord.Writer(ours) as writer:
        for payload in payloads:
            writer.write(payload)
    with tf.io.TFRecordWriter(str(theirs)) as writer:
        for payload in payloads:
            writer.write(payload)
    assert ours.read_bytes() == theirs.read_bytes()
    parsed = [tf.train.Example.FromString(raw).features.feature['image/attr/age']
              .int64_list.value[0] for raw in tf.data.TFRecordDataset(str(ours)).as_numpy_iterator()]
    assert parsed == [30, 31, 32]
    meta = {'splits': {'eval': {'shards': ['ours.tfrecord'], 'count': 3}}}
    faces = list(records.faces_of(str(tmp_path), meta, 'eval', ('age', 'race')))
    assert [(f['label'], f['filename'], f['attr/age'], f['attr/race']) for f in faces] == [
        (0, b'f0.jpg', 30, -1), (1, b'f1.jpg', 31, -1), (0, b'f2.jpg', 32, -1)]
    whole = ours.read_bytes()
    for damaged in (whole[:-3], whole[:40] + b'X' + whole[41:]):
        ours.write_bytes(damaged)
        with pytest.raises(tfrecord.Damaged):
            list(tfrecord.read(ours))
    assert 'ours.tfrecord is damaged' in str(records.damaged_shard(str(tmp_path)))
