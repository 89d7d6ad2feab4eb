"""Adam for the torch learner without torch.optim: every torch.optim step imports torch._dynamo (and
sympy with it), ~75 MiB of the daily run's peak and ~1 s of each process that trains a network.

The update is torch.optim.Adam's single-tensor path (its default for CPU tensors: no foreach, no fused,
not capturable, not differentiable, no weight decay, no amsgrad) op for op, so a network trains to the
same bits (tests/ml/test_adam.py compares parameters after many steps with torch.optim.Adam itself).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class Adam:
    """torch.optim.Adam(params, lr, betas, eps) on CPU for real (floating-point) parameters: zero_grad() and
    step(), nothing else (torch steps a complex parameter through its real view; this does not)."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        import torch

        self.params = list(params)
        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps
        self.exp_avg = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.steps = [0.0] * len(self.params)  # torch counts in a float32 tensor and reads it back with .item()

    def zero_grad(self) -> None:
        """Gradients to None, as torch's zero_grad() does by default (backward allocates them anew)."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """One update of every parameter that has a gradient, in torch's order of operations."""
        import torch

        with torch.no_grad():
            for i, param in enumerate(self.params):
                if param.grad is None:
                    continue
                grad, exp_avg, exp_avg_sq = param.grad, self.exp_avg[i], self.exp_avg_sq[i]
                self.steps[i] += 1.0
                step = self.steps[i]
                exp_avg.lerp_(grad, 1 - self.beta1)
                exp_avg_sq.mul_(self.beta2).addcmul_(grad, grad, value=1 - self.beta2)
                bias_correction1 = 1 - self.beta1 ** step
                bias_correction2 = 1 - self.beta2 ** step
                step_size = self.lr / bias_correction1
                denom = (exp_avg_sq.sqrt() / bias_correction2 ** 0.5).add_(self.eps)
                param.addcdiv_(exp_avg, denom, value=-step_size)
