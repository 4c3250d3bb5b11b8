"""Training: the accelerate-based trainer and its resumable checkpoints."""
