"""Data: Kaldi data directories, corpus preparers, the dump store and training batches."""
