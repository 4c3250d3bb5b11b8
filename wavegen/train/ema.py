"""Exponential moving average of model weights (used for validation and synthesis)."""

from __future__ import annotations

import copy

import torch


class EMA:
    """A shadow copy of a model whose weights trail the trained ones.

    After optimizer step ``n`` the shadow moves by ``1 - min(decay, (1 + n) / (10 + n))`` towards
    the live weights: the average warms up quickly instead of remembering the initialization.
    """

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        """Blend the live weights of ``model`` in; ``step`` counts optimizer steps taken."""
        decay = min(self.decay, (1.0 + step) / (10.0 + step))
        shadow: list[torch.Tensor] = list(self.model.parameters())
        live = [p.detach().to(s.device) for p, s in zip(model.parameters(), shadow, strict=True)]
        torch._foreach_lerp_(shadow, live, 1.0 - decay)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(state)
