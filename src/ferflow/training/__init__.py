"""Training: the loop with its checkpoints, augmentation, the fast-training settings."""
