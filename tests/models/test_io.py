"""Model files: round trip, and refusing anything that is not a safe wavegen model."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch

from wavegen.errors import WavegenError
from wavegen.models.io import load_model, save_model
from wavegen.models.wavenet import WaveNet, WaveNetConfig

VOCAB = ["blues", "jazz", "rock"]


class RunsCode:
    """Unpickling this runs a shell command (what a malicious model file would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return os.system, (f"echo pwned > {self.marker}",)


@pytest.fixture
def model(tiny_cfg: WaveNetConfig) -> WaveNet:
    torch.manual_seed(0)
    return WaveNet(tiny_cfg).eval()


def test_round_trip_gives_identical_outputs(model: WaveNet, tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    save_model(path, model, 16000, VOCAB, label_kind="utt2genre")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]  # no temp file left
    loaded, info = load_model(path)
    assert not loaded.training
    assert info.config == model.cfg
    assert (info.sample_rate, info.vocab, info.label_kind) == (16000, VOCAB, "utt2genre")
    codes = torch.randint(0, 16, (2, 40), generator=torch.Generator().manual_seed(0))
    cond = torch.eye(3)[:2]
    with torch.no_grad():
        assert torch.equal(loaded(codes, cond), model(codes, cond))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(WavegenError, match=f"model file {tmp_path / 'nope.pt'} not found"):
        load_model(tmp_path / "nope.pt")


@pytest.mark.parametrize("content", [b"not a torch file", b"", b"PK\x03\x04garbage"])
def test_non_torch_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "m.pt"
    path.write_bytes(content)
    with pytest.raises(WavegenError, match="cannot load model file"):
        load_model(path)


def test_truncated_file(model: WaveNet, tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    save_model(path, model, 16000, VOCAB)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(WavegenError, match="cannot load model file"):
        load_model(path)


def test_other_torch_files_are_not_models(tmp_path: Path) -> None:
    torch.save({"format": "something-else"}, tmp_path / "a.pt")
    with pytest.raises(WavegenError, match="is not a wavegen model or checkpoint"):
        load_model(tmp_path / "a.pt")
    torch.save([1, 2, 3], tmp_path / "b.pt")
    with pytest.raises(WavegenError, match="is not a wavegen file"):
        load_model(tmp_path / "b.pt")


def test_inconsistent_payload(model: WaveNet, tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    save_model(path, model, 16000, VOCAB)
    payload = torch.load(path, weights_only=True)
    payload["model_config"]["n_layers"] += 1
    torch.save(payload, path)
    with pytest.raises(WavegenError, match="is not a valid wavegen model"):
        load_model(path)


@pytest.mark.parametrize("writer", ["torch.save", "pickle"])
def test_code_in_a_model_file_never_runs(tmp_path: Path, writer: str) -> None:
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pt"
    payload = {"format": "wavegen-model", "version": 1, "state_dict": RunsCode(marker)}
    if writer == "torch.save":
        torch.save(payload, path)
    else:
        with open(path, "wb") as fh:
            pickle.dump(payload, fh, protocol=2)
    with pytest.raises(WavegenError, match="not a safe wavegen file"):
        load_model(path)
    assert not marker.exists()
    # Positive control: the payload is live, so the check above could have failed.
    if writer == "torch.save":
        torch.load(path, weights_only=False)
    else:
        pickle.loads(path.read_bytes())
    assert marker.read_text().strip() == "pwned"


@pytest.mark.parametrize("key,value", [
    ("sample_rate", 0), ("sample_rate", -8000), ("sample_rate", 10**9), ("sample_rate", 999),
    ("vocab", ["blues", "jazz"]), ("vocab", ["blues", "blues", "rock"]), ("vocab", []),
    ("label_kind", "utt2spk"), ("synth_defaults", {"temperature": float("nan")}),
    ("synth_defaults", {"guidance": float("inf")}), ("sample_rate", "fast"), ("vocab", None),
])
def test_implausible_model_facts_are_refused(model: WaveNet, tmp_path: Path, key: str,
                                             value: object) -> None:
    """A model file whose facts cannot be right is blamed on the file, not on a flag."""
    path = tmp_path / "m.pt"
    save_model(path, model, 16000, VOCAB)
    payload = torch.load(path, weights_only=True)
    payload[key] = value
    torch.save(payload, path)
    with pytest.raises(WavegenError, match=f"model file {path} (is damaged|is not a valid)"):
        load_model(path)


TOKENIZER = {"format": "wavegen-tokenizer", "version": 1,
             "identity": {"name": "kmeans", "n_units": 8, "hop": 160, "hash": "ab12"},
             "centroids": torch.arange(24.0).view(8, 3)}


def test_the_tokenizer_entry_round_trips(model: WaveNet, tmp_path: Path) -> None:
    save_model(tmp_path / "m.pt", model, 8000, VOCAB, tokenizer=TOKENIZER)
    _, info = load_model(tmp_path / "m.pt")
    assert info.tokenizer is not None
    assert info.tokenizer["identity"] == TOKENIZER["identity"]
    assert torch.equal(info.tokenizer["centroids"], TOKENIZER["centroids"])
    save_model(tmp_path / "plain.pt", model, 8000, VOCAB)
    assert "tokenizer" not in torch.load(tmp_path / "plain.pt", weights_only=True)
    assert load_model(tmp_path / "plain.pt")[1].tokenizer is None


@pytest.mark.parametrize("value, message", [
    ([1, 2], "its tokenizer entry is a list, not the tokenizer's dict"),
    ("kmeans", "its tokenizer entry is a str"),
    ({"identity": {}}, r"its tokenizer entry is not a wavegen tokenizer \(format None, "
                       r"identity dict\)"),
    ({**TOKENIZER, "format": "wavegen-model"}, "its .*format 'wavegen-model'"),
    ({**TOKENIZER, "identity": "ab12"}, "its .* identity str"),
    ({"format": "wavegen-tokenizer"}, "its .* identity NoneType"),
])
def test_a_bad_tokenizer_entry_is_refused(model: WaveNet, tmp_path: Path, value: object,
                                          message: str) -> None:
    path = tmp_path / "m.pt"
    save_model(path, model, 8000, VOCAB)
    payload = torch.load(path, weights_only=True)
    payload["tokenizer"] = value
    torch.save(payload, path)
    with pytest.raises(WavegenError, match=f"model file {path} is damaged: {message}"):
        load_model(path)
