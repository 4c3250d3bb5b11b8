"""The training log: CSV always, TensorBoard when its optional extra is installed."""

import sys

from wavegen.train.logging import TrainLog


def test_without_tensorboard_the_csv_log_is_still_written(tmp_path, monkeypatch, caplog):
    """TensorBoard is an optional extra: missing, training logs to the CSV with one warning."""
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    with caplog.at_level("WARNING"):
        log = TrainLog(tmp_path, 0, tensorboard=True)
    log.write({"step": 1, "loss_bits": 7.5})
    log.close()
    assert "pip install 'wavegen[tensorboard]'" in caplog.text
    assert (tmp_path / "train_log.csv").read_text().splitlines()[1].startswith("1,7.5")
    assert not (tmp_path / "tensorboard").exists()
