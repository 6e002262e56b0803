"""--mode=eval: accuracy, the per-group tables and calibration of a checkpoint on the
eval split of the data it trained on (its training split without one), on every face of
any other dataset or photo folder.

    python runner.py --mode=eval --train_dir=checkpoints/mine --data_dir=records/fairface_val
"""
from core.evaluate import report
from core.store.errors import ConfigError
from data import records


def run(cfg):
    """Accuracy, per-group table and calibration of a checkpoint on the eval split."""
    if not cfg.data_dir:           # a released model records no dataset
        raise ConfigError(f'--mode=eval of {cfg.train_dir} needs --data_dir: the '
                          'labelled faces to judge it on (a dataset or a photo folder)')
    meta = records.read_meta(cfg.data_dir)
    # Faces a model never trained on are all judged (a photo folder's eval split is a tenth).
    split = records.eval_split(meta) if report.on_own_data(cfg, cfg.train_dir) \
        else tuple(meta['splits'])
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
