import pytest
import torch

from wavegen.engine.sampling import check_sampling, sample_from_logits
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


@pytest.mark.parametrize("t,p", [(0.0, 1.0), (-1.0, 1.0), (1.0, 0.0), (1.0, 1.5)])
def test_bad_sampling_parameters(t, p):
    with pytest.raises(WavegenError):
        check_sampling(t, p)
