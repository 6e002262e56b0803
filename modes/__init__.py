"""Each mode of runner.py in its own module, found by one rule: --mode=NAME runs
modes/NAME.py's run(cfg). What a mode needs and may do (for the flags and their checks)
is in core/modes.py; a new mode is a module here and one entry there.
"""
import importlib


def run(cfg):
    """Runs cfg.mode; returns what that mode produced (for callers and tests)."""
    return importlib.import_module(f'modes.{cfg.mode}').run(cfg)
