"""--mode=eval: accuracy, the per-group tables and calibration of a checkpoint on the eval
split (the training split of a dataset without one); a released model on every face of a
photo folder.

    python runner.py --mode=eval --train_dir=checkpoints/mine --data_dir=records/fairface_val
"""
from core.evaluate import report
from core.store.errors import ConfigError
from data import records


def judged_split(cfg, meta):
    """The eval split; but every face of a folder of photos given as --data_dir, for a
    model that did not train on it (a released model): its eval split is a tenth of it."""
    if cfg.photos_of and not cfg.trained_on:
        return tuple(meta['splits'])
    return records.eval_split(meta)


def run(cfg):
    """Accuracy, per-group table and calibration of a checkpoint on the eval split."""
    if not cfg.data_dir:           # a released model records no dataset
        raise ConfigError(f'--mode=eval of {cfg.train_dir} needs --data_dir: the '
                          'labelled faces to judge it on (a dataset or a photo folder)')
    meta = records.read_meta(cfg.data_dir)
    split = judged_split(cfg, meta)
    if cfg.int8_model:
        from core.serve import quantize
        return quantize.evaluate(cfg, split)
    if cfg.ensemble:
        from core.train import distill
        return distill.evaluate_ensemble(cfg, split)
    if cfg.backend == 'lite':        # the model's lite/ files: no TensorFlow imported
        from core.serve.lite_model import LiteModel
        model = LiteModel(cfg.train_dir)
        return report.write(cfg, split, model.split_outputs(cfg.data_dir, meta, split),
                            model.checkpoint)
    return report.of_checkpoint(cfg, split)
