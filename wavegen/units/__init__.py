"""Units: the tokenizer that turns audio into frame-rate discrete units (a plan), and their
tables."""
