"""JSON files the platform reads back (run.json, calibration.json, best.json, dataset.json):
a damaged one is one line naming the file and what is wrong, never a traceback."""
import json


class Damaged(ValueError):
    """A file that should hold JSON does not; str() names it."""


def read(path):
    """The JSON in `path`; Damaged when it cannot be decoded."""
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        where = f', line {e.lineno} column {e.colno}' if hasattr(e, 'lineno') else ''
        raise Damaged(f'{path} is damaged: not valid JSON ({getattr(e, "msg", e)}{where})') \
            from None
