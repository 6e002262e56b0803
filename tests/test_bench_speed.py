"""The speed bench runs (python -m bench.run, --smoke): a file of
its own, so that the suite's two workers share the benches' minutes."""
import os

import pytest

from conftest import run_bench

pytestmark = pytest.mark.slow


def test_speed_bench(utk_records, trained, tmp_path):
    run_bench('run', '--smoke', '--rounds=1', f'--data_dir={utk_records}',
          f'--train_dir={trained["train_dir"]}', f'--output_dir={tmp_path}')
    assert os.path.isfile(tmp_path / 'results.json')
