"""The tiny experiment config the training tests train with, and a writer for variants."""

import yaml

TINY = {
    "sample_rate": 8000,
    "model": {"residual_channels": 8, "gate_channels": 12, "skip_channels": 8,
              "n_layers": 4, "dilation_cycle": 4},
    "train": {"batch_size": 2, "segment_length": 100, "max_steps": 6, "warmup_steps": 2,
              "checkpoint_every": 2, "valid_every": 3, "valid_batches": 1, "log_every": 1,
              # float32 on every machine: these tests compare runs number for number (the
              # default, auto, would pick bf16 on CPUs with bf16 units)
              "mixed_precision": "no"},
}


def write_config(path, overrides=None):
    cfg = yaml.safe_load(yaml.safe_dump(TINY))
    for section, values in (overrides or {}).items():
        cfg[section].update(values)
    path.write_text(yaml.safe_dump(cfg))
    return path
