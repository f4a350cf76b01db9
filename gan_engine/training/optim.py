"""Adam with its epsilon where ``optim.adam_eps_placement`` puts it.

torch's Adam divides by sqrt(v_hat) + eps. The paper's code (openai/improved-gan,
mnist_svhn_cifar10/nn.py, ``adam_updates``, lines 26-43) divides by sqrt(v_hat + eps):
    m_t = b1 m + (1 - b1) g        v_t = b2 v + (1 - b2) g^2        (lines 33-34)
    p_t = p - lr * (m_t / (1 - b1^t)) / sqrt(v_t / (1 - b2^t) + eps)  (lines 35-38)
with eps = 1e-8 and t counted from 1. Where v_hat is of the order of eps (entries whose gradients are
tiny, as in G's output layer early in training) the step is smaller than torch's: sqrt(v_hat + eps)
exceeds sqrt(v_hat) + eps by up to sqrt(eps).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from gan_engine.config import OptimConfig


class PaperAdam(torch.optim.Optimizer):
    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float, betas: tuple[float, float], eps: float):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            b1, b2 = group["betas"]
            for p in params:
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
            t = self.state[params[0]]["step"]
            grads = [p.grad for p in params]
            m = [self.state[p]["exp_avg"] for p in params]
            v = [self.state[p]["exp_avg_sq"] for p in params]
            torch._foreach_lerp_(m, grads, 1 - b1)
            torch._foreach_mul_(v, b2)
            torch._foreach_addcmul_(v, grads, grads, value=1 - b2)
            denom = torch._foreach_div(v, 1 - b2**t)
            torch._foreach_add_(denom, group["eps"])
            torch._foreach_sqrt_(denom)
            torch._foreach_addcdiv_(params, m, denom, value=-group["lr"] / (1 - b1**t))


def make_adam(params: Iterable[torch.nn.Parameter], optim: OptimConfig) -> torch.optim.Optimizer:
    betas = (optim.beta1, optim.beta2)
    if optim.adam_eps_placement == "inside":
        return PaperAdam(params, lr=optim.lr, betas=betas, eps=optim.adam_eps)
    # fused: one kernel per step for all parameters instead of several passes over each.
    return torch.optim.Adam(params, lr=optim.lr, betas=betas, eps=optim.adam_eps, fused=True)
