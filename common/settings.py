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

from absl import flags


def setting(default, help, choices=None, **bounds):
    """A dataclass field that is also a flag (`bounds`: lower_bound/upper_bound)."""
    return dataclasses.field(default=default, metadata={
        'help': help, 'choices': choices, 'bounds': bounds})


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
            flags.DEFINE_integer(*args, flag_values=flag_values, **meta['bounds'])
        elif kind is float:
            flags.DEFINE_float(*args, flag_values=flag_values, **meta['bounds'])
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
