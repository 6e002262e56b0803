"""Every bench script runs: on the suite's few faces and its briefly trained models, for a
few steps, as `python -m bench.NAME` from the repository's root, its figures written where
asked. (What the figures are worth is the bench's business; that it cannot break unseen is
this file's.)"""
import json
import os
import shutil

import pytest

from conftest import SHARED, need_shared, refused, run_bench, run_cli
from common import jsonfile
from core import precision

pytestmark = pytest.mark.slow
PORTRAITS = os.path.join(SHARED, 'datasets', 'portraits')


@pytest.fixture(scope='module')
def photos(tmp_path_factory):
    """A labelled photo folder: 24 shared portraits of each class (fine-tuning on half of
    them needs 10 faces of each)."""
    root = tmp_path_factory.mktemp('photos')
    for kind in ('man', 'woman'):
        src = os.path.join(need_shared(PORTRAITS), kind)
        os.makedirs(root / kind)
        for name in sorted(os.listdir(src))[:24]:
            shutil.copy(os.path.join(src, name), root / kind / name)
    return str(root)


def test_agreement(trained, tmp_path, monkeypatch):
    monkeypatch.setenv(precision.FLAGS_VARIABLE, 'avx512_bf16')    # bf16 whatever the CPU
    out = tmp_path / 'a.json'
    run_bench('agreement', f'--train_dir={trained["train_dir"]}',
          f'--data_dir={trained["data_dir"]}', f'--output={out}')
    assert 'same_class' in jsonfile.read(str(out))


def test_hair(trained, tmp_path):
    out = tmp_path / 'h.json'
    run_bench('hair', f'--train_dir={trained["train_dir"]}', f'--data_dir={trained["data_dir"]}',
          f'--hair_output={out}')
    result = jsonfile.read(str(out))
    assert {'whole', 'hair_hidden'} <= set(result)


def test_study_and_parity(utk_records, tmp_path, monkeypatch):
    monkeypatch.setenv(precision.FLAGS_VARIABLE, 'avx512_bf16')    # bf16 whatever the CPU
    data = [f'--fairface={utk_records}', f'--fairface_val={utk_records}']
    out = tmp_path / 's.json'
    run_bench('study', '--variants=cnn60', '--fixed_steps=3', *data, f'--utkface={utk_records}',
          f'--study_dir={tmp_path / "study"}', f'--results={out}')
    run = jsonfile.read(str(out))['runs']['cnn60']
    assert run['steps'] == 3 and {'held_out', 'fairface_val', 'utkface', 'hair_lost'} <= set(run)
    out = tmp_path / 'p.json'
    run_bench('parity', '--nets=cnn60', '--seeds=0', '--steps=2', *data,
          f'--parity_dir={tmp_path / "parity"}', f'--parity_results={out}')
    assert set(jsonfile.read(str(out))) == {'cnn60-fp32-0', 'cnn60-bf16-0'}


@pytest.mark.parametrize('bench', ['parity', 'agreement', 'precision'])
def test_a_bf16_bench_is_refused_before_any_work_where_bf16_would_be_emulated(
        bench, tmp_path, monkeypatch):
    monkeypatch.setenv(precision.FLAGS_VARIABLE, 'avx2 avx512f')
    where = {'parity': '--parity_dir', 'agreement': '--output', 'precision': '--output'}[bench]
    proc = run_cli('-m', f'bench.{bench}', f'{where}={tmp_path / "out"}', check=False)
    refused(proc, f'bench.{bench}', 'AVX-512 BF16')
    assert os.listdir(tmp_path) == []


def test_seeds(utk_records, tmp_path):
    run_bench('seeds', '--name=smoke', '--seeds=0', f'--seeds_dir={tmp_path}',
          f'--output_dir={tmp_path}', '--', '--net=cnn60', f'--data_dir={utk_records}',
          '--max_steps=2')
    assert jsonfile.read(str(tmp_path / 'seeds_smoke.json'))


def test_zoo(utk_records, tmp_path):
    run_bench('zoo', f'--data_dir={utk_records}', '--nets=cnn60', '--age_gender_nets=',
          '--minutes=0.02', f'--zoo_dir={tmp_path / "zoo"}', f'--output_dir={tmp_path}')
    assert os.path.isfile(tmp_path / 'zoo.json')


def test_gan(generator, trained, tmp_path):
    out = tmp_path / 'g.json'
    run_bench('gan', f'--generator_dir={generator["train_dir"]}',
          f'--classifier_dir={trained["train_dir"]}', '--count=8', '--real=8', f'--output={out}')
    assert jsonfile.read(str(out))


def test_end_to_end_and_portraits(trained, photos, tmp_path):
    few = tmp_path / 'few'
    for kind in ('man', 'woman'):
        os.makedirs(few / kind)
        for name in sorted(os.listdir(os.path.join(photos, kind)))[:3]:
            shutil.copy(os.path.join(photos, kind, name), few / kind / name)
    out = tmp_path / 'e.json'
    run_bench('end_to_end', f'--src={few}', f'--train_dir={trained["train_dir"]}',
          f'--output={out}')
    assert jsonfile.read(str(out))['count'] == 6
    out = tmp_path / 'p.json'
    run_bench('portraits', f'--train_dir={trained["train_dir"]}', f'--portraits={photos}',
          '--limit=2', f'--output={out}')
    assert jsonfile.read(str(out))['photos'] == 4


def test_own_photos(trained, photos, tmp_path):
    out = tmp_path / 'o.json'
    run_bench('own_photos', f'--base={trained["train_dir"]}', f'--photos={photos}', '--folds=2',
              '--run_folds=1', '--finetune_flag=--max_steps=2', '--finetune_flag=--folds=0',
              f'--output={out}')
    assert 'tuned_end_to_end' in jsonfile.read(str(out))


def test_lite_bench_times_both_paths_and_compares_their_answers():
    need_shared(PORTRAITS)
    out = run_bench('lite', f'--photos={PORTRAITS}', '--limit=3', '--repeats=1').stdout
    figures = json.loads(out[out.index('{'):])
    assert figures['photos'] == 3 and figures['same_faces'] == 3
    assert figures['lite_one_photo_s'] > 0 and figures['tf_one_photo_s'] > 0
