"""JSON files the platform reads back (run.json, calibration.json, best.json, dataset.json):
a damaged one is one line naming the file and what is wrong, never a traceback."""
import json


class Damaged(ValueError):
    """A file that should hold JSON does not; str() names it."""


def read(path, required=()):
    """The JSON object in `path`; Damaged when it cannot be decoded, is not an object (a
    list, a string), or lacks one of the `required` keys."""
    try:
        with open(path, encoding='utf-8') as f:
            value = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        where = f', line {e.lineno} column {e.colno}' if hasattr(e, 'lineno') else ''
        raise Damaged(f'{path} is damaged: not valid JSON ({getattr(e, "msg", e)}{where})') \
            from None
    if not isinstance(value, dict):
        raise Damaged(f'{path} is damaged: it holds a JSON {type(value).__name__}, not an '
                      'object of settings')
    missing = [key for key in required if key not in value]
    if missing:
        raise Damaged(f'{path} is damaged: it has no {", ".join(missing)}')
    return value
