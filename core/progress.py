"""Progress lines for long work: count, rate and ETA, at most every few seconds."""
import sys
import time


def format_duration(seconds):
    seconds = int(max(seconds, 0))
    hours, rest = divmod(seconds, 3600)
    return f'{hours}h{rest // 60:02d}m' if hours else f'{rest // 60}m{rest % 60:02d}s'


class Progress:
    """    progress = Progress(total=20707, what='images')
    for ...: progress.update(1)
    progress.done()
    """

    def __init__(self, total, what='items', every_seconds=5.0, stream=sys.stdout):
        self.total, self.what, self.every, self.stream = total, what, every_seconds, stream
        self.count = 0
        self.start = self.last = time.time()

    def update(self, n=1):
        self.count += n
        now = time.time()
        if now - self.last >= self.every:
            self.last = now
            self._print(now)

    def _print(self, now):
        rate = self.count / max(now - self.start, 1e-9)
        eta = (self.total - self.count) / rate if rate > 0 else 0
        print(f'  {self.count}/{self.total} {self.what}  {rate:.0f}/s  ETA {format_duration(eta)}',
              file=self.stream, flush=True)

    def done(self):
        elapsed = time.time() - self.start
        print(f'  {self.count}/{self.total} {self.what} in {format_duration(elapsed)} '
              f'({self.count / max(elapsed, 1e-9):.0f}/s)', file=self.stream, flush=True)
