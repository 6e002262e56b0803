"""--moving_average_decay: the weights' moving average is what eval, predict and export use."""
import os

import numpy as np
import tensorflow as tf

from conftest import run_cli


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
