"""Training recipes beyond the one loop of cnn.py: fine-tuning from a base,
distillation, mixup/CutMix, auxiliary heads.
"""
