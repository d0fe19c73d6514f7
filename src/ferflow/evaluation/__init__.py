"""Evaluation: predictions and their test-time augmentation, metrics, ensembles, the paired statistics, the tables, the model card and the figures that need no model."""
