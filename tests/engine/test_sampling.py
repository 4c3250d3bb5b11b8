import math

import pytest
import torch
from engine_models import SHAPES, random_model

from wavegen.config import check_sampling
from wavegen.engine import generate
from wavegen.engine.sampling import sample_from_logits
from wavegen.errors import WavegenError


def test_inverse_cdf_picks_the_bucket_of_u():
    # probabilities 0.1, 0.2, 0.3, 0.4 -> cdf 0.1, 0.3, 0.6, 1.0
    logits = torch.log(torch.tensor([[0.1, 0.2, 0.3, 0.4]])).repeat(5, 1)
    u = torch.tensor([0.05, 0.15, 0.35, 0.65, 0.999])
    assert sample_from_logits(logits, u).tolist() == [0, 1, 2, 3, 3]


def test_frequencies_match_probabilities():
    probs = torch.tensor([0.5, 0.25, 0.125, 0.125])
    n = 40000
    logits = torch.log(probs).expand(n, 4)
    codes = sample_from_logits(logits, torch.rand(n, generator=torch.Generator().manual_seed(0)))
    freq = torch.bincount(codes, minlength=4).float() / n
    assert torch.allclose(freq, probs, atol=0.01)


def test_low_temperature_concentrates_and_top_p_truncates():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.2]])).expand(2000, 3)
    u = torch.rand(2000, generator=torch.Generator().manual_seed(1))
    cold = sample_from_logits(logits, u, temperature=0.05)
    assert (cold == 0).float().mean() > 0.99
    nucleus = sample_from_logits(logits, u, top_p=0.6)  # keeps codes 0 and 1 only
    assert set(nucleus.tolist()) == {0, 1}
    assert abs((nucleus == 0).float().mean().item() - 0.5 / 0.8) < 0.05


@pytest.mark.parametrize("t, p, g, message", [
    (0.0, 1.0, 1.0, "temperature must be a finite number > 0, got 0.0"),
    (-1.0, 1.0, 1.0, "temperature must be"), (math.inf, 1.0, 1.0, "temperature must be"),
    (math.nan, 1.0, 1.0, "temperature must be"),
    (1.0, 0.0, 1.0, r"top_p must be in \(0, 1\], got 0.0"), (1.0, 1.5, 1.0, "top_p must be"),
    (1.0, math.nan, 1.0, "top_p must be"),
    (1.0, 1.0, -0.5, "guidance must be a finite number >= 0, got -0.5"),
    (1.0, 1.0, math.inf, "guidance must be"), (1.0, 1.0, math.nan, "guidance must be"),
])
def test_bad_sampling_parameters(t, p, g, message):
    """One rule for the config, the synth flags, model files and the engines' stream()."""
    with pytest.raises(WavegenError, match=message):
        check_sampling(t, p, g)
    with pytest.raises(WavegenError, match=message):
        generate(random_model(SHAPES[0], 0), torch.eye(SHAPES[0].n_cond)[:1], 4,
                 temperature=t, top_p=p, guidance=g)
