"""Units: a tokenizer that turns audio into frame-rate discrete units (the plan), and their tables."""
