"""--precision: what auto decides on which CPU, the refusal where bfloat16 cannot help, what
the rewrite keeps in float32, and the same checkpoint answering alike in both precisions."""
import collections
import dataclasses
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import refused, run_cli, run_runner
from core import config, model, precision
from core.evaluate import calibration
from core.store import released

v1 = tf.compat.v1
NO_BF16 = 'fpu sse sse2 avx avx2 fma'        # a CPU of an earlier machine


@pytest.mark.parametrize('flags, name, unit', [
    ('avx2 avx512f avx512_bf16 amx_bf16 amx_tile', 'bf16', 'AMX'),
    ('avx2 avx512f avx512_bf16', 'bf16', 'AVX-512 BF16'),
    (NO_BF16, 'fp32', 'neither'),
])
def test_auto_takes_bf16_where_the_cpu_computes_it_and_says_why(monkeypatch, flags, name, unit):
    monkeypatch.setenv(precision.FLAGS_VARIABLE, flags)
    choice = precision.decide('auto')
    assert choice.name == name and unit in choice.why


def test_fp32_is_always_granted_and_bf16_refused_without_the_unit_or_on_a_gpu(monkeypatch):
    monkeypatch.setenv(precision.FLAGS_VARIABLE, NO_BF16)
    assert precision.decide('fp32').name == 'fp32'
    with pytest.raises(precision.Unsupported, match='^--precision=bf16'):
        precision.decide('bf16')
    monkeypatch.setenv(precision.FLAGS_VARIABLE, 'avx512_bf16 amx_bf16')
    assert precision.decide('bf16').name == 'bf16'
    assert precision.decide('auto', gpus=1).name == 'fp32'
    with pytest.raises(precision.Unsupported, match='GPU'):
        precision.decide('bf16', gpus=1)
    assert precision.decide('auto', cluster=True).name == 'fp32'
    with pytest.raises(precision.Unsupported, match='cluster'):
        precision.decide('bf16', cluster=True)


def test_auto_keeps_float32_for_a_net_that_is_slower_in_bf16(monkeypatch):
    import networks
    monkeypatch.setenv(precision.FLAGS_VARIABLE, 'avx512_bf16')
    assert precision.decide('auto', net=networks.get('mobile64')).name == 'fp32'
    assert precision.decide('bf16', net=networks.get('mobile64')).name == 'bf16'
    assert precision.decide('auto', net=networks.get('cnn60')).name == 'bf16'


def test_this_machines_own_cpu_flags_are_read(monkeypatch):
    monkeypatch.delenv(precision.FLAGS_VARIABLE, raising=False)
    if not os.path.isfile('/proc/cpuinfo'):
        pytest.skip('no /proc/cpuinfo on this system')
    flags = precision.cpu_flags()
    assert 'fpu' in flags or 'sse2' in flags or 'fp' in flags, sorted(flags)[:10]


def test_a_refused_bf16_is_one_line_before_any_work(monkeypatch, tmp_path):
    monkeypatch.setenv(precision.FLAGS_VARIABLE, NO_BF16)
    proc = run_runner('--mode=predict', '--precision=bf16', f'--image={tmp_path}',
                      check=False)
    refused(proc, '--precision=bf16')


def _rewritten_op_types(cfg):
    """{op type: set of dtypes} of one training step of cfg.net as the session runs it."""
    graph = tf.Graph()
    with graph.as_default():
        images = tf.constant(np.random.RandomState(0).rand(4, 64, 64, 3).astype(np.float32))
        labels = tf.constant([0, 1, 0, 1])
        step = v1.train.get_or_create_global_step()
        logits, _ = model.build_network(images, cfg, is_training=True)
        loss = model.loss_fn(logits, labels, cfg)
        probabilities = tf.nn.softmax(logits)
        with tf.control_dependencies(v1.get_collection(v1.GraphKeys.UPDATE_OPS)):
            train_op = v1.train.AdamOptimizer(1e-3).minimize(loss, step)
        init = v1.global_variables_initializer()
    metadata = v1.RunMetadata()
    with model.session(cfg, graph) as sess:
        sess.run(init)
        sess.run([train_op, probabilities], options=v1.RunOptions(output_partition_graphs=True),
                 run_metadata=metadata)
    found = collections.defaultdict(set)
    for partition in metadata.partition_graphs:
        for node in partition.node:
            for attr in ('T', 'U'):
                if attr in node.attr and node.attr[attr].type:
                    found[(node.op, attr)].add(tf.dtypes.as_dtype(node.attr[attr].type).name)
    return found


def test_bf16_computes_convolutions_in_bfloat16_and_keeps_updates_loss_softmax_and_stats_fp32():
    cfg = config.RunConfig(net='cnn_bn', num_classes=2, keep_prob=1.0, weight_decay=0.0,
                           precision='bf16')
    found = _rewritten_op_types(cfg)

    def dtypes(word, attr='T'):
        return set().union(*[d for (op, a), d in found.items() if word in op and a == attr])

    assert 'bfloat16' in dtypes('Conv2D') and 'bfloat16' in dtypes('Conv2DBackpropFilter')
    assert dtypes('ApplyAdam') == {'float32'}                     # the update, on fp32 weights
    assert dtypes('Softmax') == {'float32'}                       # softmax and the loss
    assert dtypes('FusedBatchNorm', 'U') == {'float32'}           # batch-norm statistics
    plain = _rewritten_op_types(dataclasses.replace(cfg, precision='fp32'))
    assert not any('bfloat16' in d for d in plain.values())


def _answers(utk_records, name):
    values = {'mode': 'eval', 'train_dir': released.DEFAULT, 'data_dir': utk_records,
              'precision': name, 'backend': 'tf'}
    cfg = config.resolve(values, set(values))
    assert cfg.precision == name
    out, _ = model.split_outputs(cfg, ('train', 'eval'))
    return calibration.softmax(out['logits']), out['label']


def test_the_released_model_answers_alike_in_bf16_and_fp32(utk_records, monkeypatch):
    """The issue's bar on faces the suite has (400 UTKFace faces): the same class for 99.5%,
    probabilities within 0.01 on average, calibration error within half a point."""
    monkeypatch.setenv(precision.FLAGS_VARIABLE, 'avx512_bf16')    # asked for, whatever the CPU
    p32, labels = _answers(utk_records, 'fp32')
    p16, labels16 = _answers(utk_records, 'bf16')
    assert (labels == labels16).all() and len(labels) == 400
    assert np.mean(p32.argmax(-1) == p16.argmax(-1)) >= 0.995
    assert np.mean(np.abs(p32 - p16)[:, 0]) <= 0.01
    ece = [calibration.expected_calibration_error(p, labels) for p in (p32, p16)]
    assert abs(ece[0] - ece[1]) <= 0.005, ece


def test_a_training_in_bf16_says_so_first_records_it_and_writes_fp32_checkpoints(
        utk_records, tmp_path, monkeypatch):
    monkeypatch.setenv(precision.FLAGS_VARIABLE, 'avx512_bf16')
    train_dir = tmp_path / 'run'
    proc = run_cli('runner.py', '--net=cnn60', f'--data_dir={utk_records}', '--max_steps=4',
                   '--batch_size=16', '--log_every=2', f'--train_dir={train_dir}')
    assert proc.stdout.splitlines()[0] == 'precision bf16: this CPU has AVX-512 BF16'
    record = json.loads((train_dir / 'run.json').read_text())
    assert record['precision'] == 'bf16' and 'AVX-512 BF16' in record['precision_why']
    reader = tf.train.load_checkpoint(str(train_dir))
    kinds = set(reader.get_variable_to_dtype_map().values())
    assert kinds == {tf.float32, tf.int64}, kinds                 # weights and global step
    # The same checkpoint answers in float32, and eval says which precision it used.
    proc = run_cli('runner.py', '--mode=eval', f'--train_dir={train_dir}', '--precision=fp32')
    assert proc.stdout.splitlines()[0] == 'precision fp32: asked (--precision=fp32)'
