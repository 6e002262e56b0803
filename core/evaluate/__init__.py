"""Judging a model: accuracy and confusion, per-group accuracy, calibration,
the written report and its pictures.
"""
