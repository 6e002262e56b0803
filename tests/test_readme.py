"""README's commands run as written: every ```sh block, in order, in a fresh folder that
holds the repository's code and a user's `my_photos/` (60 shared portraits) and
`my_photo.jpg`. A block marked `<!-- README test: not run (why) -->` needs hours or runs
until stopped, and is left out."""
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from conftest import REPO, SHARED, need_shared

PORTRAITS = os.path.join(SHARED, 'datasets', 'portraits')
SKIP_MARK = '<!-- README test: not run'
CODE = ('runner.py', 'cnn.py', 'modes', 'core', 'data', 'networks', 'common', 'bench',
        'tools', 'models')


def readme_commands():
    """[command] of README's ```sh blocks not marked as not run."""
    text = open(os.path.join(REPO, 'README.md'), encoding='utf-8').read()
    commands = []
    for match in re.finditer(r'```sh\n(.*?)```', text, re.S):
        before = text[:match.start()].rstrip().splitlines()[-1]
        if before.startswith(SKIP_MARK):
            continue
        block = match.group(1).replace('\\\n', ' ')
        commands += [line.split(' #')[0].strip() for line in block.splitlines()
                     if line.strip() and not line.startswith('#')]
    return commands


def test_every_block_not_run_says_why_and_the_first_hour_is_run():
    commands = readme_commands()
    from core.store import released
    assert any(f'--init_from={released.DEFAULT}' in c for c in commands)
    assert sum(c.startswith('python ') for c in commands) == len(commands), commands
    text = open(os.path.join(REPO, 'README.md'), encoding='utf-8').read()
    assert all(re.match(r'<!-- README test: not run \(.+\) -->', m)
               for m in re.findall(r'<!-- README test.*', text))


def sandbox(root):
    """A user's folder: the code, 30 portraits of each class, one more photo."""
    for name in CODE:
        os.symlink(os.path.join(REPO, name), root / name)
    for cls in ('man', 'woman'):
        names = sorted(os.listdir(os.path.join(need_shared(PORTRAITS), cls)))
        os.makedirs(root / 'my_photos' / cls)
        for name in names[:30]:
            shutil.copy(os.path.join(PORTRAITS, cls, name), root / 'my_photos' / cls / name)
    shutil.copy(os.path.join(PORTRAITS, 'woman', sorted(os.listdir(
        os.path.join(PORTRAITS, 'woman')))[-1]), root / 'my_photo.jpg')


def test_readme_commands_run_as_written(tmp_path):
    from core.store import released
    if not released.default():
        pytest.skip(f'no released model {released.DEFAULT} in models/ to start from')
    sandbox(tmp_path)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
    env.pop('FACECNN_MODELS', None)
    for command in readme_commands():
        args = shlex.split(command)
        proc = subprocess.run([sys.executable, *args[1:]], cwd=tmp_path, env=env, text=True,
                              capture_output=True, timeout=900)
        assert proc.returncode == 0, f'{command}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}'
