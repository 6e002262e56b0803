"""One training per folder: an OS lock on <train_dir>/.lock, held for as long as the
training runs. The kernel frees it when the process ends, however it ends (a crash, a
SIGKILL), so nothing is left to clean up; eval, predict and export read without it."""
import contextlib
import fcntl
import os

from core.store.errors import ConfigError

LOCK_FILE = '.lock'


class FolderBusy(ConfigError):
    """Another process trains into the folder."""


@contextlib.contextmanager
def hold(train_dir):
    """Holds the folder's lock inside the block; FolderBusy at once when another holds it."""
    os.makedirs(train_dir, exist_ok=True)
    with open(os.path.join(train_dir, LOCK_FILE), 'a+') as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or 'unknown'
            raise FolderBusy(f'{train_dir} is in use: another training (process {holder}) '
                             'writes into it; wait for it to end, or give another '
                             '--train_dir') from None
        f.truncate(0)
        f.write(f'{os.getpid()}\n')
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def holder(train_dir):
    """The process id (as text) of the training that holds the folder now, else None."""
    path = os.path.join(train_dir, LOCK_FILE)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        try:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return f.read().strip() or 'unknown'
        fcntl.flock(f, fcntl.LOCK_UN)
    return None
