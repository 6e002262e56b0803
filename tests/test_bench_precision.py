"""The precision bench runs (python -m bench.precision, --smoke): a file of
its own, so that the suite's two workers share the benches' minutes."""
import os

import pytest

from conftest import run_bench
from core import precision

pytestmark = pytest.mark.slow


def test_precision_bench(utk_records, tmp_path, monkeypatch):
    monkeypatch.setenv(precision.FLAGS_VARIABLE, 'avx512_bf16')    # bf16 whatever the CPU
    out = tmp_path / 'precision'
    run_bench('precision', '--smoke', '--rounds=1', '--nets=nn_gender', f'--data_dir={utk_records}',
          f'--output={out}')
    assert os.path.isfile(str(out) + '.json')
