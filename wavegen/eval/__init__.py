"""Evaluation: a genre classifier on log-mel features, and metrics built on it."""
