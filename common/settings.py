"""Settings written once: a dataclass field holds a setting's default and its help, and
the command-line flags are made from the fields.

    @dataclasses.dataclass
    class Recipe:
        epochs: int = setting(15, 'Epochs to train.', lower_bound=1)
        optimizer: str = setting('adam', 'Optimizer.', choices=['adam', 'sgd'])

    names = define_flags(Recipe)          # --epochs, --optimizer with those defaults
    Recipe(**pick(Recipe, {name: FLAGS[name].value for name in names}))
"""
import dataclasses
import math
import textwrap

from absl import flags


_section = ['', None]       # the current section's title and its settings' readers


def section(title, readers=None):
    """The settings written after this call, up to the next, are listed under `title` in
    --help and, unless they say otherwise, read by `readers` (what that is, the caller
    decides). Called as a statement in the dataclass body."""
    _section[:] = [title, readers]


def setting(default, help, choices=None, above=None, below=None, readers=None, **bounds):
    """A dataclass field that is also a flag. `bounds` (lower_bound/upper_bound) include
    their ends, `above`/`below` exclude them; a value outside is refused when the flags
    are read, before any work. `readers`: who reads it (default: its section's)."""
    return dataclasses.field(default=default, metadata={
        'help': help, 'choices': choices, 'bounds': bounds, 'above': above, 'below': below,
        'section': _section[0], 'readers': readers or _section[1]})


def _range_text(meta):
    low = (f'above {meta["above"]:g}' if meta['above'] is not None else
           f'at least {meta["bounds"]["lower_bound"]:g}' if 'lower_bound' in meta['bounds']
           else '')
    high = (f'below {meta["below"]:g}' if meta['below'] is not None else
            f'at most {meta["bounds"]["upper_bound"]:g}' if 'upper_bound' in meta['bounds']
            else '')
    return ' and '.join(t for t in (low, high) if t)


def _check_range(name, meta, flag_values, kind=int):
    """Refuses values outside the setting's range with one sentence saying the range; a
    float setting refuses nan and inf too (every comparison with nan is false)."""
    if kind is float:
        flags.register_validator(name, lambda v: v is None or math.isfinite(v),
                                 message=f'--{name} must be a finite number',
                                 flag_values=flag_values)
    text = _range_text(meta)
    if not text:
        return
    low, high = meta['bounds'].get('lower_bound'), meta['bounds'].get('upper_bound')

    def inside(value):
        return value is None or not (
            (low is not None and value < low) or (high is not None and value > high)
            or (meta['above'] is not None and value <= meta['above'])
            or (meta['below'] is not None and value >= meta['below']))
    flags.register_validator(name, inside, message=f'--{name} must be {text}',
                             flag_values=flag_values)


def flag_fields(cls):
    """The fields of dataclass `cls` that are flags."""
    return [f for f in dataclasses.fields(cls) if 'help' in f.metadata]


def define_flags(cls, skip=(), flag_values=flags.FLAGS):
    """Defines a flag for every setting of `cls` not in `skip`; returns their names."""
    names = []
    for field in flag_fields(cls):
        if field.name in skip:
            continue
        meta, kind = field.metadata, field.type
        args = (field.name, field.default, meta['help'])
        if meta['choices']:
            flags.DEFINE_enum(*args[:2], list(meta['choices']), args[2], flag_values=flag_values)
        elif kind is bool:
            flags.DEFINE_boolean(*args, flag_values=flag_values)
        elif kind is int:
            flags.DEFINE_integer(*args, flag_values=flag_values)
            _check_range(field.name, meta, flag_values)
        elif kind is float:
            flags.DEFINE_float(*args, flag_values=flag_values)
            _check_range(field.name, meta, flag_values, float)
        elif kind is list:
            flags.DEFINE_list(*args, flag_values=flag_values)
        else:                       # str, and sizes given as text ('80' or '96x128')
            flags.DEFINE_string(*args, flag_values=flag_values)
        names.append(field.name)
    return names


def pick(cls, values):
    """The entries of `values` that are fields of dataclass `cls`."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in values.items() if k in names}


def help_text(classes, filled=None):
    """--help: every setting of `classes`, under its section, with its default (`filled`:
    {name: text} for defaults that come from elsewhere, a network's say)."""
    lines, current = [], None
    for cls in classes:
        for field in flag_fields(cls):
            meta = field.metadata
            if meta['section'] != current:
                current = meta['section']
                lines += ['', f'{current}:']
            default = (filled or {}).get(field.name)
            if default is None:
                default = field.default if field.default not in (None, '') else '-'
            if meta['choices']:
                default = f'{default}; one of {", ".join(map(str, meta["choices"]))}'
            lines.append(f'  --{field.name} (default: {default})')
            lines.append(textwrap.fill(meta['help'], 92, initial_indent=' ' * 6,
                                       subsequent_indent=' ' * 6))
    return '\n'.join(lines).lstrip('\n')
