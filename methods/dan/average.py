"""An exponential moving average of a model's weights and batch-norm statistics, kept while training."""
from __future__ import annotations

import torch


class WeightAverage:
    """The moving average of every floating tensor of ``model.state_dict()`` (weights and batch-norm
    running statistics), updated after each optimizer step.

    Update ``n`` (counted from 0) moves each average ``a`` towards the live tensor ``w`` by
    ``a <- a + (1 - d_n) (w - a)`` with ``d_n = min(decay, (1 + n) / (10 + n))``: a short warm-up,
    so an average started at the initial weights forgets them within tens of steps, then a
    window of about ``1 / (1 - decay)`` steps. ``tensors`` and ``updates`` continue a saved
    average (a resumed run); without them the average starts at the model's weights.

    >>> lin = torch.nn.Linear(1, 1, bias=False)
    >>> _ = lin.weight.data.fill_(0.0)
    >>> avg = WeightAverage(lin, decay=0.5)
    >>> _ = lin.weight.data.fill_(1.0)
    >>> avg.update(); avg.update()       # warm-up decays d_0 = 1/10, d_1 = 2/11 (both below 0.5)
    >>> round(float(avg.tensors()["weight"]), 6) == round(1 - 0.1 * 2 / 11, 6)
    True
    """

    def __init__(self, model: torch.nn.Module, decay: float, tensors: dict[str, torch.Tensor] | None = None,
                 updates: int = 0):
        if not 0 < decay < 1:
            raise ValueError(f"the average's decay must be in (0, 1), got {decay:g}")
        live = getattr(model, "module", model).state_dict()     # detached views of the parameters and buffers
        self.decay, self.updates = decay, int(updates) if tensors is not None else 0
        self.names = [k for k, v in live.items() if v.is_floating_point()]
        self._live = [live[k] for k in self.names]
        self._counters = {k: v for k, v in live.items() if not v.is_floating_point()}  # e.g. num_batches_tracked
        if tensors is not None and set(tensors) != set(self.names):
            raise ValueError("the saved average does not hold the model's tensors")
        source = tensors if tensors is not None else live
        self._avg = [source[k].detach().to(device=live[k].device, dtype=live[k].dtype).clone() for k in self.names]

    def rate(self) -> float:
        """The decay of the next update (the warm-up's, while it is smaller than ``decay``)."""
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self) -> None:
        """Move the average towards the model's current tensors (after an optimizer step)."""
        weight = 1.0 - self.rate()
        for avg, live in zip(self._avg, self._live):
            avg.lerp_(live, weight)
        self.updates += 1

    def tensors(self) -> dict[str, torch.Tensor]:
        """The averaged tensors by state-dict name (the average's own storage: copy before changing)."""
        return dict(zip(self.names, self._avg))

    @torch.no_grad()
    def copy_to(self, model: torch.nn.Module) -> torch.nn.Module:
        """Load the average into ``model`` (same architecture), with the live model's integer buffers."""
        target = getattr(model, "module", model).state_dict()
        for name, avg in zip(self.names, self._avg):
            target[name].copy_(avg)
        for name, counter in self._counters.items():
            target[name].copy_(counter)
        return model
