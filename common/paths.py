"""What a command may write, checked before any work: never over what a user gave it.

An output may not be an input, nor lie inside an input folder (the next run would read
it as a photo); an output file that exists is replaced only when it is one this kind of
command wrote; an output folder that exists is written into only when it is empty or
carries the marker this kind of command leaves in it.
"""
import os


class Refused(ValueError):
    """An output that would write over something the user owns; str() says which."""


def same(a, b):
    return os.path.realpath(a) == os.path.realpath(b)


def inside(path, folder):
    """Whether `path` is `folder` or lies below it (links resolved)."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_apart(outputs, inputs):
    """`outputs` and `inputs`: {flag: path}. Refuses an output that is an input or lies
    inside an input folder, and an input folder that lies inside an output folder."""
    for out_flag, out in outputs.items():
        for in_flag, source in inputs.items():
            if same(out, source):
                raise Refused(f'--{out_flag}={out} is the input --{in_flag}={source}: it would '
                              'be written over; give another path')
            if os.path.isdir(source) and inside(out, source):
                raise Refused(f'--{out_flag}={out} lies inside the input folder --{in_flag}='
                              f'{source}: give a path outside it')
            if os.path.isdir(out) and inside(source, out):
                raise Refused(f'--{out_flag}={out} holds the input --{in_flag}={source}: give '
                              'an output folder of its own')


def check_replaceable_file(flag, path, first_line):
    """An existing `path` is replaced only when its first line is `first_line` (a file this
    kind of command wrote)."""
    if not os.path.lexists(path):
        return
    if os.path.isdir(path):
        raise Refused(f'--{flag}={path} is a folder; give a file name')
    try:
        with open(path, encoding='utf-8') as f:
            ours = f.readline().rstrip('\r\n') == first_line
    except (OSError, UnicodeDecodeError):
        ours = False
    if not ours:
        raise Refused(f'--{flag}={path} exists and was not written by this command: it is '
                      'left alone; give a new file name')


def check_output_folder(flag, path, marker):
    """An existing folder is written into only when it is empty or holds `marker`."""
    if not os.path.lexists(path):
        return
    if not os.path.isdir(path):
        raise Refused(f'--{flag}={path} is a file; give a folder')
    entries = os.listdir(path)
    if entries and marker not in entries:
        raise Refused(f'--{flag}={path} holds files this command did not write: they are left '
                      'alone; give a new or empty folder')


def claim_folder(path, marker, what):
    """Makes the output folder and leaves the marker that lets later runs write into it."""
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, marker), 'w', encoding='utf-8') as f:
        f.write(f'{what}: this folder may be written over by the same command\n')
