"""Run settings: flags over run.json over dataset over network defaults, and clear mismatches."""
import dataclasses
import json
import os

import pytest

from conftest import run_runner
from core import checkpoints, config
from core.store import runs


def values(**overrides):
    base = {'mode': 'eval', 'net': 'nn_gender', 'input_size': None, 'crop_size': None,
            'num_classes': None, 'channels': None}
    base.update(overrides)
    return base


def write_run(train_dir, **fields):
    record = {'net': 'nn_gender', 'num_classes': 2, 'input_size': [100, 100],
              'crop_size': [80, 80], 'channels': 1, 'classes': ['male', 'female'],
              'data_dir': 'records/x', 'eval_crop': 'center', 'net_options': {}}
    record.update(fields)
    os.makedirs(train_dir, exist_ok=True)
    with open(os.path.join(train_dir, runs.FILE), 'w') as f:
        json.dump(record, f)


@pytest.mark.parametrize('text, size', [('80', (80, 80)), ('96x128', (96, 128)),
                                        ((60, 70), (60, 70))])
def test_sizes_read_as_height_by_width(text, size):
    assert config.parse_size(text) == size


@pytest.mark.parametrize('text', ['big', '80x', '4', '1x2x3'])
def test_unreadable_sizes_say_how_to_write_them(text):
    with pytest.raises(config.ConfigError, match='HEIGHTxWIDTH'):
        config.parse_size(text)


def test_net_options_parse_numbers_and_words():
    assert config.parse_options(['init=glorot', 'width=2']) == {'init': 'glorot', 'width': 2}
    with pytest.raises(config.ConfigError):
        config.parse_options(['oops'])


def test_later_modes_take_the_training_folders_settings(tmp_path):
    write_run(tmp_path, input_size=[120, 120], crop_size=[96, 96])
    cfg = config.resolve(values(train_dir=str(tmp_path)), explicit=set())
    assert cfg.input_size == (120, 120) and cfg.crop_size == (96, 96)
    assert cfg.classes == ['male', 'female'] and cfg.data_dir == 'records/x'
    assert cfg.batch_size == 64          # not recorded: the network's default
    with pytest.raises(dataclasses.FrozenInstanceError):     # built once, never changed
        cfg.batch_size = 32
    assert dataclasses.replace(cfg, batch_size=32).batch_size == 32 and cfg.batch_size == 64


def test_a_flag_that_contradicts_the_checkpoint_is_refused(tmp_path):
    write_run(tmp_path)
    with pytest.raises(config.ConfigError, match='--channels=1.*--channels=3'):
        config.resolve(values(train_dir=str(tmp_path), channels=3), explicit={'channels'})
    with pytest.raises(config.ConfigError, match='--net=nn_gender.*--net=vgg13_bn'):
        config.resolve(values(train_dir=str(tmp_path), net='vgg13_bn'), explicit={'net'})


def test_a_new_input_size_keeps_the_crop_ratio():
    cfg = config.resolve(values(mode='eval', input_size='50', num_classes=2,
                                train_dir='/nonexistent'), explicit={'input_size'})
    assert cfg.crop_size == (40, 40)


def test_colour_augmentation_of_a_grey_net_is_refused():
    with pytest.raises(config.ConfigError, match='^--hue.*nn_gender'):
        config.resolve(values(mode='train', hue=0.05, num_classes=2, train_dir='/nonexistent'),
                       explicit={'hue'})


def test_no_model_and_no_data_says_what_training_needs(tmp_path):
    with pytest.raises(config.ConfigError, match='--data_dir.*'
                       'python runner.py --net=nn_gender --data_dir=.*--init_from='):
        config.resolve(values(train_dir=str(tmp_path)), explicit=set())
    with pytest.raises(config.ConfigError, match='--mode=train.*--data_dir'):
        config.resolve(values(mode='train', train_dir=str(tmp_path)), explicit=set())


def test_a_setting_that_nothing_reads_is_refused_not_dropped():
    with pytest.raises(config.ConfigError, match='learning_rat'):
        config.resolve(values(learning_rat=0.1, num_classes=2, train_dir='/nonexistent'),
                       explicit=set())


def test_every_flag_of_runner_is_a_setting_with_its_default_written_once():
    """runner.py defines its flags from the settings' fields: same names, same defaults."""
    import dataclasses
    import runner
    from common.settings import flag_fields
    from data.prepare import FaceSettings
    from data.sources import SourceSettings
    fields = {f.name: f for cls in (config.RunConfig, FaceSettings, SourceSettings)
              for f in flag_fields(cls)}
    assert set(runner.FLAG_NAMES) == set(fields)
    for name in runner.FLAG_NAMES:
        default = runner.FLAGS[name].default
        assert default == fields[name].default or (default, fields[name].default) == ([], None), name
    # Nothing but the fields: no second list of modes, layouts or defaults to keep in step.
    from core import modes
    from data import sources
    assert runner.FLAGS['mode'].parser.enum_values == modes.names()
    assert runner.FLAGS['layout'].parser.enum_values == sorted(sources.LAYOUTS)
    assert dataclasses.fields(config.RunConfig)


def test_fresh_moves_the_old_run_aside_instead_of_deleting_it(tmp_path):
    run = tmp_path / 'nn_gender'
    run.mkdir()
    (run / 'model.ckpt-10.index').write_text('x')
    checkpoints.start_fresh(str(run))
    aside = [p for p in os.listdir(tmp_path) if p.startswith('nn_gender.old-')]
    assert not run.exists() and len(aside) == 1
    assert (tmp_path / aside[0] / 'model.ckpt-10.index').read_text() == 'x'


def test_fresh_into_a_folder_that_does_not_exist_yet_trains_and_can_be_repeated(utk_records,
                                                                              tmp_path):
    """--fresh on a new folder once held its own lock twice and called itself busy."""
    train_dir = tmp_path / 'new'
    for _ in range(2):
        run_runner('--net=cnn60', f'--data_dir={utk_records}', f'--train_dir={train_dir}',
                   '--max_steps=1', '--batch_size=8', '--fresh')
        assert checkpoints.latest(str(train_dir)).endswith('model.ckpt-1')
    assert len([p for p in os.listdir(tmp_path) if p.startswith('new.old-')]) == 1


def test_without_a_gpu_a_net_gets_its_cpu_defaults_under_the_users_flags(tmp_path):
    def resolved(**flags):
        v = values(net=flags.pop('net'), num_classes=2, train_dir=str(tmp_path / 'none'),
                   **flags)
        return config.resolve(v, explicit=set(flags) | {'net', 'num_classes'})
    vgg = resolved(net='vgg13_bn')
    assert (vgg.input_size, vgg.crop_size, vgg.batch_size) == ((48, 48), (48, 48), 32)
    assert vgg.net_options == {'width': 0.5} and vgg.cpu_sized
    resnet = resolved(net='resnet', net_options=['depth=50'])
    assert resnet.net_options == {'width': 0.5, 'depth': 50}
    assert resolved(net='vgg13_bn', net_options=['width=1']).net_options == {'width': 1}
    assert resolved(net='vgg13_bn', input_size='64').input_size == (64, 64)


def test_a_trained_run_keeps_its_recorded_net_options(tmp_path):
    write_run(tmp_path, net='resnet', input_size=[72, 72], crop_size=[64, 64], channels=3,
              net_options={'depth': 18})
    cfg = config.resolve(values(train_dir=str(tmp_path)), explicit=set())
    assert cfg.net == 'resnet' and cfg.net_options == {'depth': 18}     # no CPU width added


def test_net_options_given_again_are_checked_against_the_record_and_completed_by_it(tmp_path):
    write_run(tmp_path, net='resnet', input_size=[72, 72], crop_size=[64, 64], channels=3,
              net_options={'depth': 18, 'width': 0.5})
    cfg = config.resolve(values(train_dir=str(tmp_path), net_options=['depth=18']),
                         explicit={'net_options'})
    assert cfg.net_options == {'depth': 18, 'width': 0.5}     # as bench/zoo.py exports it
    with pytest.raises(config.ConfigError, match='--net_options=depth=18,width=0.5.*'
                                                 '--net_options=depth=50'):
        config.resolve(values(train_dir=str(tmp_path), net_options=['depth=50']),
                       explicit={'net_options'})


def test_help_lists_the_projects_flags_by_section_with_the_nets_defaults():
    from conftest import run_cli
    out = run_cli('runner.py', '--help', '--net=cnn60')
    assert out.returncode == 0
    assert '--net (default: nn_gender)' in out.stdout and '--data_dir' in out.stdout
    assert '--learning_rate (default: from --net; cnn60: 0.001)' in out.stdout
    assert 'Faces: finding' in out.stdout and '--tpu' not in out.stdout


@pytest.mark.parametrize('flag, says', [
    ('--batch_size=0', '--batch_size'),
    ('--learning_rate=-1', '--learning_rate'),
    ('--data_dir=/nonexistent/photos', '--data_dir=/nonexistent/photos'),
    ('--net=nope', '--net=nope'),
    ('--max_minutes=nan', '--max_minutes'),          # nan passed every range check
    ('--learning_rate=inf', '--learning_rate'),
    ('--max_steps=100000000000000000000', '--max_steps')])
def test_a_bad_flag_is_one_line_before_anything_is_written(tmp_path, flag, says):
    from conftest import UTKFACE, need_shared, refused, run_cli
    train_dir = tmp_path / 'run'
    args = ['runner.py', f'--train_dir={train_dir}', f'--prepared_dir={tmp_path / "prep"}',
            '--layout=utkface', f'--data_dir={need_shared(UTKFACE)}', flag]
    refused(run_cli(*args, check=False), says)
    assert not train_dir.exists() and not (tmp_path / 'prep').exists()


def test_every_setting_declares_its_readers_and_a_flag_its_mode_does_not_read_is_refused(
        tmp_path):
    """Every flag against every mode, through config.resolve: where the declaration leaves a
    mode out, the flag is refused in one line naming it, whatever its value."""
    from common.settings import flag_fields
    from core import modes
    from core.config.schema import RunConfig
    from core.store.released import DEFAULT
    released = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'models', DEFAULT)
    fields = flag_fields(RunConfig)
    assert all(isinstance(f.metadata['readers'], modes.Readers) for f in fields)
    refused = 0
    for mode in modes.names():
        # A folder this mode can start from: the released model to answer with, a new
        # folder to train into, a generator pair's folder for generate.
        net, train_dir = ('dcgan', str(tmp_path / 'pair')) if mode == 'generate' else \
            ('cnn60', str(tmp_path / 'new')) if mode == 'train' else \
            (json.load(open(os.path.join(released, 'run.json')))['net'], released)
        for field in fields:
            if field.name in ('mode', 'net', 'train_dir') or \
                    mode in field.metadata['readers'].modes:
                continue
            values = {'mode': mode, 'net': net, 'train_dir': train_dir,
                      field.name: field.default}
            with pytest.raises(config.ConfigError, match=rf'^--{field.name} is for .*'
                               rf'--mode={mode} does not read it'):
                config.resolve(values, explicit={field.name})
            refused += 1
    assert refused > 200          # most flags belong to a few modes
