"""``train.mixed_precision`` resolved for the machine: auto follows the hardware."""

from __future__ import annotations

import logging

import pytest
import torch

from wavegen.errors import WavegenError
from wavegen.train.precision import resolve_precision

AMX = {"model": "Intel Xeon", "isa": ["avx512f", "amx_tile", "amx_bf16"]}
AVX512_BF16 = {"model": "AMD EPYC 9", "isa": ["avx512f", "avx512_bf16"]}
AVX2 = {"model": "AMD EPYC", "isa": ["avx2", "fma"]}
NO_FLAGS = {"model": "unknown", "isa": []}


@pytest.mark.parametrize("cpu, want", [(AMX, "bf16"), (AVX512_BF16, "bf16"), (AVX2, "no"),
                                       (NO_FLAGS, "no")])
def test_auto_on_the_cpu_follows_its_bf16_units(cpu: dict, want: str) -> None:
    got, why = resolve_precision("auto", "cpu", cpu)
    assert got == want and why.startswith("auto")


def test_auto_on_a_gpu_follows_its_bf16_support(monkeypatch: pytest.MonkeyPatch) -> None:
    for supported, want in ((True, "bf16"), (False, "no")):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda s=supported: s)
        assert resolve_precision("auto", "cuda", AVX2)[0] == want


@pytest.mark.parametrize("setting", ["no", "bf16"])
@pytest.mark.parametrize("cpu", [AMX, AVX2])
def test_explicit_settings_are_kept(setting: str, cpu: dict) -> None:
    assert resolve_precision(setting, "cpu", cpu) == (setting, "as configured")


def test_bf16_without_units_warns_that_it_is_slow(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        resolve_precision("bf16", "cpu", AVX2)
    assert "emulated" in caplog.text and "use auto or no" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        resolve_precision("bf16", "cpu", AMX)
    assert caplog.text == ""


@pytest.mark.parametrize("setting, message", [
    ("fp16", "fp16 needs a CUDA GPU"), ("fp8", "must be one of auto, no, bf16, fp16"),
    ("", "must be one of"), ("BF16", "must be one of"), ("yes", "must be one of")])
def test_bad_settings_on_the_cpu_are_clear_errors(setting: str, message: str) -> None:
    with pytest.raises(WavegenError, match=message):
        resolve_precision(setting, "cpu", AVX2)


def test_this_machine_resolves_without_facts() -> None:
    assert resolve_precision("auto", "cpu")[0] in ("no", "bf16")
