"""A folder of labelled photos given as --data_dir: prepared into a dataset (faces found,
filtered, aligned) the first time, the preparation reused after that, whatever the mode."""
import os

from data import prepare
from data.records import META_FILE
from common import jsonfile
from common.settings import pick
from core import modes
from core.config import ConfigError
from data import sources
from data.sources import SourceSettings


def is_photo_folder(path, layout):
    """True for raw photos (to prepare), False for a dataset made by data.convert/prepare."""
    return sources.LAYOUTS[layout][0] == 'file' or (
        os.path.isdir(path) and not os.path.isfile(os.path.join(path, META_FILE)))


def prepared_dir(src, prepared=None):
    return prepared or os.path.join('records', os.path.basename(os.path.normpath(src)))


def dataset_for(values):
    """The dataset folder for the flag `values`: --data_dir itself, or its preparation."""
    src = values.get('data_dir')
    source = SourceSettings(**pick(SourceSettings, values))
    if not src or not is_photo_folder(src, source.layout):
        return src
    out = prepared_dir(src, values.get('prepared_dir'))
    settings = prepare.settings_from(values)
    try:
        if _same_source(src, out, source, settings) and not modes.get(values['mode']).trains:
            return out      # eval/predict/export use the preparation training made; no rewrite
        print(f'Preparing the photos of {src} into {out} (cached: a rerun reuses finished '
              'work)', flush=True)
        report = prepare.prepare(src, out, settings, source.layout, source.utkface_label,
                                 label_names=source.label_names)
    except ValueError as e:            # no class folders, an unreadable CSV, ...
        raise ConfigError(str(e)) from None
    if not report['final_images']:
        reasons = ', '.join(f'{n} {kind}' for kind, n in report['rejected_by_reason'].items())
        raise ConfigError(f'{src}: none of its {report["photos"]} photos gave a usable face'
                          + (f' (rejected: {reasons})' if reasons else '')
                          + f'; see {os.path.join(out, "report.txt")} and rejected.png')
    return out


def _same_source(src, out, source, settings):
    """Whether `out` holds the preparation of these very photos with these settings. A
    preparation of another source of the same name is refused, never replaced: a model
    trained on it may name it."""
    if not os.path.isfile(os.path.join(out, META_FILE)):
        return False
    recorded = jsonfile.read(os.path.join(out, META_FILE)).get('prepared_from')
    if recorded and recorded['src'] != os.path.abspath(src):
        raise ConfigError(f'{out} holds the preparation of {recorded["src"]}, not of {src}: '
                          'give --prepared_dir=<a new folder> for these photos')
    items, _, _ = sources.list_items(src, source.layout, source.utkface_label)
    current = prepare.source_record(src, items, settings, source.label_names)
    return recorded == current
