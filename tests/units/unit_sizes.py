"""Sizes shared by the units tests and their fixtures (conftest.py)."""

RATE = 8000  # the dumps' rate
K = 64  # units of the shared tokenizer
