"""--mode=eval: accuracy, the per-group tables and calibration of a checkpoint on the
eval split (or the training split of a dataset without one).

    python runner.py --mode=eval --train_dir=checkpoints/mine --data_dir=records/fairface_val
"""
from core.evaluate import report
from core.store.errors import ConfigError
from core.train import distill
from data import records


def run(cfg):
    """Accuracy, per-group table and calibration of a checkpoint on the eval split."""
    if not cfg.data_dir:           # a released model records no dataset
        raise ConfigError(f'--mode=eval of {cfg.train_dir} needs --data_dir: the '
                          'labelled faces to judge it on (a dataset or a photo folder)')
    meta = records.read_meta(cfg.data_dir)
    split = records.eval_split(meta)
    if cfg.int8_model:
        from core.serve import quantize
        return quantize.evaluate(cfg, split)
    if cfg.ensemble:
        return distill.evaluate_ensemble(cfg, split)
    return report.of_checkpoint(cfg, split)
