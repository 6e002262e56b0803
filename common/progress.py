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

    The rate (and so the ETA) is measured from the first finished item on: start-up
    (loading models, starting workers) is not work, and would make the first ETA a guess.
    """

    def __init__(self, total, what='items', every_seconds=5.0, stream=sys.stdout):
        self.total, self.what, self.every, self.stream = total, what, every_seconds, stream
        self.count = 0
        self.start = self.last = time.time()
        self.first = None            # (time, count) at the first update

    def update(self, n=1):
        now = time.time()
        if self.first is None:
            self.first = (now, self.count)
        self.count += n
        if now - self.last >= self.every:
            self.last = now
            self._print(now)

    def rate(self, now=None):
        """Items per second since the first finished item; None until that can be known."""
        if self.first is None:
            return None
        first_time, first_count = self.first
        elapsed, done = (now or time.time()) - first_time, self.count - first_count
        return done / elapsed if elapsed > 0 and done > 0 else None

    def _print(self, now):
        rate = self.rate(now)
        if rate is None:
            print(f'  {self.count}/{self.total} {self.what}', file=self.stream, flush=True)
            return
        eta = (self.total - self.count) / rate
        print(f'  {self.count}/{self.total} {self.what}  {rate:.0f}/s  ETA {format_duration(eta)}',
              file=self.stream, flush=True)

    def done(self):
        elapsed = time.time() - self.start
        print(f'  {self.count}/{self.total} {self.what} in {format_duration(elapsed)} '
              f'({self.count / max(elapsed, 1e-9):.0f}/s)', file=self.stream, flush=True)
