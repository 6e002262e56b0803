"""Setting values as flags write them and as run.json keeps them."""
import json
import os

from core.store.errors import ConfigError


def plain(value):
    return list(value) if isinstance(value, tuple) else value


def parse_size(text):
    """'80' -> (80, 80); '96x128' -> (96, 128) as (height, width)."""
    if text is None or isinstance(text, (tuple, list)):
        return tuple(text) if text else None
    parts = str(text).lower().split('x')
    try:
        size = tuple(int(p) for p in parts)
    except ValueError:
        raise ConfigError(f'cannot read size {text!r}: use 80 or HEIGHTxWIDTH like 96x128') from None
    if len(size) == 1:
        size = size * 2
    if len(size) != 2 or min(size) < 8:
        raise ConfigError(f'cannot read size {text!r}: use 80 or HEIGHTxWIDTH like 96x128')
    return size


def parse_options(items):
    """['init=glorot', 'width=2'] -> {'init': 'glorot', 'width': 2}."""
    if isinstance(items, dict) or not items:
        return dict(items or {})
    options = {}
    for item in items:
        key, sep, value = item.partition('=')
        if not sep:
            raise ConfigError(f'--net_options wants key=value pairs, got {item!r}')
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value.strip()
    return options



def show(value):
    if isinstance(value, (list, tuple)):
        return 'x'.join(str(v) for v in value)
    if isinstance(value, dict):                  # net options, as the flag writes them
        return ','.join(f'{k}={v}' for k, v in value.items()) or '(none)'
    return value


def same_path(a, b):
    return bool(a and b) and os.path.abspath(a) == os.path.abspath(b)
