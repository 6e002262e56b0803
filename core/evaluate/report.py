"""The evaluation report of a model on a split: accuracy, confusion, per-group accuracy
(table and chart), calibration (temperature, reliability diagram), written beside it."""
import os

from core.evaluate import calibration, groups, metrics
from core.store import released
from data import records


def of_checkpoint(cfg, split):
    """The report of cfg.checkpoint's answers on `split`, written."""
    from core import model         # TensorFlow: a lite/ model's eval calls write() alone
    out, path = model.split_outputs(cfg, split, cfg.checkpoint)
    return write(cfg, split, out, path)


def split_label(split):
    return split if isinstance(split, str) else ' + '.join(split)


def write(cfg, split, out, path, suffix=''):
    """Reports the split's logits `out` of the model at `path` (a checkpoint; or an int8
    file, with `suffix` on every file name) and returns the report."""
    report = metrics.classification_report(out['label'], out['prediction'], cfg.classes)
    report.update(checkpoint=path, data_dir=cfg.data_dir, split=split, eval_crop=cfg.eval_crop,
                  eval_flip=cfg.eval_flip)
    folder = released.work_folder(os.path.dirname(path))
    os.makedirs(folder, exist_ok=True)
    # On data the model was not trained on the report gets its own name, and the model's
    # calibration (fitted on its own eval split) is left alone.
    # A released model's calibration is part of its release: every dataset is another one.
    own_data = not released.is_released(path) and (not cfg.trained_on or os.path.abspath(
        cfg.trained_on) == os.path.abspath(cfg.data_dir))
    if not own_data:
        suffix += '_' + os.path.basename(os.path.normpath(cfg.data_dir))
    attributes = groups.attributes_of(out)
    # "97%" should mean right 97% of the time: fit the temperature on this split.
    fitted = calibration.calibrate(out['logits'], out['label'], path)
    # Per group, the confidence predict would show: the model's own temperature.
    shown = calibration.softmax(out['logits'], calibration.temperature_for(path, cfg.eval_flip)
                                if not own_data else fitted['temperature'])
    report['groups'] = groups.group_report(out['label'], out['prediction'], cfg.classes,
                                           attributes, shown)
    report['error_sides'] = groups.error_sides(out['label'], out['prediction'], cfg.classes,
                                               attributes)
    groups.bar_chart(report['groups'], os.path.join(folder, f'groups{suffix}.png'),
                     report['accuracy'])
    written = [f'groups{suffix}.png', f'reliability{suffix}.png']
    if not suffix and own_data:
        records.write_json_atomic(calibration.path_for(path, cfg.eval_flip), fitted)
        written.insert(0, os.path.basename(calibration.path_for(path, cfg.eval_flip)))
    calibration.reliability_diagram(out['logits'], out['label'], fitted['temperature'],
                                    os.path.join(folder, f'reliability{suffix}.png'))
    report['calibration'] = fitted
    json_path = os.path.join(folder, f'eval{suffix}.json')
    records.write_json_atomic(json_path, report)
    kind = 'int8 model' if cfg.int8_model else 'checkpoint'
    print(f'{cfg.net} {kind} {path}, {split_label(split)} split of {cfg.data_dir}'
          + (' (flip averaged)' if cfg.eval_flip else ''))
    print(metrics.format_report(report))
    print()
    print(groups.format_groups(report['groups']))
    if report['error_sides']:
        print('\n' + groups.format_sides(report['error_sides']))
    print(f'\ncalibration: temperature {fitted["temperature"]:.3f}, expected calibration error '
          f'{fitted["ece_before"] * 100:.2f}% before, {fitted["ece_after"] * 100:.2f}% after'
          + (f' ({fitted["note"]})' if fitted.get('note') else ''))
    if not suffix and own_data and 'balance' in fitted:     # the record written above
        print(balance_line(fitted, cfg.classes))
    print(f'written to {folder}: {", ".join([os.path.basename(json_path)] + written)}')
    return report


def balance_line(record, classes):
    """What the balanced threshold of a calibration record would do, in one line."""
    balance = record['balance']
    (before0, before1), (after0, after1) = balance['errors_before'], balance['errors_after']
    return (f'errors of {classes[0]} / {classes[1]}: {before0 * 100:.2f} / {before1 * 100:.2f}%; '
            f'at the balanced threshold (the {classes[1]} logit '
            f'{calibration.balance_shift(record):+.3f}) '
            f'{after0 * 100:.2f} / {after1 * 100:.2f}%, accuracy '
            f'{balance["accuracy_after"] * 100:.2f}% (tools.release --balance_errors applies it)')
