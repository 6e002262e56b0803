"""--mode=train: train, or resume, --net on --data_dir (the loop is cnn.py's)."""
import cnn


def run(cfg):
    return cnn.train(cfg)
