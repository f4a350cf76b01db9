"""Losses against direct computations written with explicit probabilities."""

import torch
import torch.nn.functional as F

from gan_engine.objectives import (
    HistoricalAverage,
    discriminator_loss,
    feature_matching_loss,
    generator_loss,
    realness,
    supervised_loss,
)


def test_k_plus_one_losses_match_explicit_k_plus_one_softmax():
    torch.manual_seed(0)
    k = 10
    lab, unl, gen = torch.randn(6, k) * 3, torch.randn(6, k) * 3, torch.randn(6, k) * 3
    y = torch.randint(0, k, (6,))

    def probs(logits):  # append the generated class's logit 0 and normalise over K+1
        return torch.softmax(torch.cat([logits, torch.zeros(len(logits), 1)], 1), 1)

    # supervised: cross-entropy over the K real classes only
    p_lab = torch.softmax(lab, 1)
    torch.testing.assert_close(supervised_loss(lab, y), -p_lab[torch.arange(6), y].log().mean())
    # unsupervised: -0.5 E log D(real) - 0.5 E log(1 - D(fake)), D = 1 - p(generated)
    d_real = 1 - probs(unl)[:, k]
    d_fake = 1 - probs(gen)[:, k]
    direct = -0.5 * d_real.log().mean() - 0.5 * (1 - d_fake).log().mean()
    torch.testing.assert_close(discriminator_loss(realness(unl), realness(gen)), direct)
    # the public code's formula
    lse_u, lse_g = torch.logsumexp(unl, 1), torch.logsumexp(gen, 1)
    code = -0.5 * lse_u.mean() + 0.5 * F.softplus(lse_u).mean() + 0.5 * F.softplus(lse_g).mean()
    torch.testing.assert_close(discriminator_loss(lse_u, lse_g), code)
    # generator: non-saturating -E log D(G(z))
    torch.testing.assert_close(generator_loss(realness(gen)), -d_fake.log().mean())


def test_one_sided_label_smoothing_targets():
    torch.manual_seed(1)
    r_real, r_fake = torch.randn(50), torch.randn(50)
    alpha = 0.9
    expect = 0.5 * F.binary_cross_entropy_with_logits(r_real, torch.full((50,), alpha)) + 0.5 * (
        F.binary_cross_entropy_with_logits(r_fake, torch.zeros(50))
    )
    torch.testing.assert_close(discriminator_loss(r_real, r_fake, alpha), expect)
    # negatives stay at 0: smoothing leaves the generated half untouched
    r = r_real.clone().requires_grad_(True)
    f = r_fake.clone().requires_grad_(True)
    discriminator_loss(r, f, alpha).backward()
    f_plain = r_fake.clone().requires_grad_(True)
    discriminator_loss(r_real, f_plain, 1.0).backward()
    torch.testing.assert_close(f.grad, f_plain.grad)
    # the optimum for a real example is D = alpha, not 1
    at_alpha = torch.tensor([torch.logit(torch.tensor(alpha)).item()], requires_grad=True)
    discriminator_loss(at_alpha, torch.zeros(1), alpha).backward()
    assert abs(at_alpha.grad.item()) < 1e-6


def test_binary_head_realness_is_the_logit():
    logits = torch.randn(4, 1)
    assert torch.equal(realness(logits), logits[:, 0])


def test_feature_matching_distances():
    real, fake = torch.randn(8, 5), torch.randn(8, 5)
    diff = real.mean(0) - fake.mean(0)
    torch.testing.assert_close(feature_matching_loss(real, fake, "l2"), diff.pow(2).mean())
    torch.testing.assert_close(feature_matching_loss(real, fake, "l1"), diff.abs().mean())
    assert feature_matching_loss(real, real.flip(0)).item() < 1e-12  # same batch mean, no loss


def test_historical_average_is_the_mean_of_all_past_parameters():
    torch.manual_seed(2)
    p = torch.nn.Parameter(torch.randn(3))
    frozen = torch.nn.Parameter(torch.randn(2), requires_grad=False)
    ha = HistoricalAverage([p, frozen])
    history = [p.detach().clone()]
    for _ in range(4):
        with torch.no_grad():
            p.add_(torch.randn(3))
        ha.update()
        history.append(p.detach().clone())
    mean = torch.stack(history).mean(0)
    torch.testing.assert_close(ha.penalty(), (p - mean).pow(2).sum())
    assert len(ha._params) == 1  # parameters that do not train are not penalised
    ha.reset()
    assert ha.penalty().item() == 0
