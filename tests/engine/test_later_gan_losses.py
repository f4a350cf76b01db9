"""The later GANs' losses and pieces, each against a direct computation on fixed tensors."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gan_engine.config import build_config
from gan_engine.errors import ConfigError
from gan_engine.models.coded import CodedGenerator
from gan_engine.models.image_pool import ImagePool
from gan_engine.models.progan_layers import EqualizedConv2d, MinibatchStdDev, NormalLatent, PixelNorm
from gan_engine.objectives import bgan, cycle, info
from gan_engine.objectives.began import Equilibrium, convergence_measure, reconstruction_error, updated_k
from gan_engine.objectives.wasserstein import (
    clip_weights,
    critic_loss,
    drift_penalty,
    generator_loss,
    gradient_norms,
    gradient_penalty,
)
from gan_engine.recipes.progan import schedule


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These tensors are tiny: on a busy machine a second intra-op thread mostly waits, at ten times the cost."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_wasserstein_losses_are_mean_differences():
    real, fake = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([-1.0, 0.5, 0.0])
    assert critic_loss(real, fake).item() == pytest.approx(fake.mean() - real.mean())
    assert generator_loss(fake).item() == pytest.approx(-fake.mean().item())
    assert drift_penalty(real, 0.001).item() == pytest.approx(0.001 * (1 + 4 + 9) / 3)


def test_gradient_penalty_of_a_linear_critic_is_lambda_times_norm_minus_one_squared():
    torch.manual_seed(0)
    w = torch.randn(1, 2, 3, 3)

    def critic(x):  # D(x) = w . x: its gradient is w everywhere
        return (x * w).flatten(1).sum(1)

    real, fake = torch.randn(5, 2, 3, 3), torch.randn(5, 2, 3, 3)
    norm = w.norm().item()
    x = torch.randn(5, 2, 3, 3, requires_grad=True)
    assert torch.allclose(gradient_norms(critic, x), torch.full((5,), norm))
    assert gradient_penalty(critic, real, fake, 10.0).item() == pytest.approx(10 * (norm - 1) ** 2, rel=1e-5)


def test_gradient_penalty_trains_the_critic_towards_unit_gradients():
    critic = nn.Linear(4, 1)
    with torch.no_grad():
        critic.weight.fill_(2.0)
    penalty = gradient_penalty(lambda x: critic(x)[:, 0], torch.randn(3, 4), torch.randn(3, 4), 10.0)
    penalty.backward()
    # d/dw of 10 (||w|| - 1)^2 = 20 (||w|| - 1) w / ||w||, with ||w|| = 4
    assert torch.allclose(critic.weight.grad, torch.full((1, 4), 20 * 3 * 2.0 / 4))


def test_weight_clipping_keeps_every_weight_in_minus_c_c():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 1))
    inside = [p.detach().clone() for p in model.parameters()]
    clip_weights(model, 0.01)
    for p, before in zip(model.parameters(), inside):
        assert p.abs().max() <= 0.01
        assert torch.equal(p, before.clamp(-0.01, 0.01))


def test_began_k_update_and_convergence_measure():
    k = torch.tensor(0.3)
    real, fake = torch.tensor(0.2), torch.tensor(0.05)
    # k + lambda_k (gamma L(x) - L(G(z)))
    assert updated_k(k, real, fake, 0.5, 0.001).item() == pytest.approx(0.3 + 0.001 * (0.5 * 0.2 - 0.05))
    assert updated_k(torch.tensor(0.9999), real, torch.tensor(-1.0), 0.5, 0.1).item() == 1.0
    assert updated_k(torch.tensor(0.0), real, torch.tensor(1.0), 0.5, 0.1).item() == 0.0
    assert convergence_measure(real, fake, 0.5).item() == pytest.approx(0.2 + abs(0.1 - 0.05))
    x, recon = torch.tensor([[0.0, 1.0], [2.0, -1.0]]), torch.tensor([[0.5, 1.0], [1.0, 0.0]])
    assert reconstruction_error(x, recon).item() == pytest.approx((0.5 + 0 + 1 + 1) / 4)


def test_equilibrium_k_starts_at_zero_stays_clamped_and_is_checkpointed():
    eq = Equilibrium()
    assert eq.k.item() == 0.0
    eq.update(torch.tensor(1.0), torch.tensor(5.0), 0.5, 0.001)
    assert eq.k.item() == 0.0  # clamped at the bottom
    for _ in range(3):
        eq.update(torch.tensor(1.0), torch.tensor(0.0), 0.5, 1.0)
    assert eq.k.item() == 1.0  # and at the top
    assert set(eq.state_dict()) == {"k"}


@pytest.mark.parametrize("divergence", bgan.DIVERGENCES)
def test_bgan_normalised_weights_sum_to_one_and_are_the_softmax_of_log_weights(divergence):
    torch.manual_seed(1)
    v = torch.randn(4, 20)
    log_w = bgan.log_weights(v, divergence)
    weights = bgan.normalised_weights(log_w)
    assert torch.allclose(weights.sum(1), torch.ones(4))
    direct = log_w.exp() / log_w.exp().sum(1, keepdim=True)
    assert torch.allclose(weights, direct, atol=1e-6)
    assert torch.allclose(weights, torch.softmax(log_w, dim=1))


def test_bgan_importance_weights_are_the_density_ratio_estimates():
    v = torch.tensor([-1.0, 0.0, 0.5, 2.0])
    d = torch.sigmoid(v)
    # The GAN's (Jensen-Shannon) weight is D / (1 - D)
    assert torch.allclose(bgan.log_weights(v, "js").exp(), d / (1 - d), atol=1e-6)
    assert torch.allclose(bgan.log_weights(v, "kl"), v - 1)
    assert torch.allclose(bgan.log_weights(v, "reverse_kl"), v)
    assert torch.allclose(bgan.log_weights(v, "squared_hellinger"), 2 * v)
    assert torch.allclose(bgan.log_weights(v, "pearson").exp(), v / 2 + 1)
    # continuous BGAN: 0.5 (log D - log(1 - D))^2, zero on the decision boundary D = 1/2
    direct = 0.5 * (d.log() - (1 - d).log()).pow(2).mean()
    assert bgan.continuous_generator_loss(v, "js").item() == pytest.approx(direct.item(), rel=1e-5)
    assert bgan.continuous_generator_loss(torch.zeros(3), "js").item() == 0.0


def test_bgan_js_discriminator_loss_is_the_gan_log_loss_minus_log_4():
    real, fake = torch.tensor([0.3, 2.0]), torch.tensor([-1.0, 0.1])
    bce = F.binary_cross_entropy_with_logits(real, torch.ones(2)) + F.binary_cross_entropy_with_logits(
        fake, torch.zeros(2)
    )
    assert bgan.discriminator_loss(real, fake, "js").item() == pytest.approx(bce.item() - math.log(4), rel=1e-5)
    # KL's bound: -(E_real[v] - E_fake[exp(v - 1)])
    direct = -(real.mean() - (fake - 1).exp().mean())
    assert bgan.discriminator_loss(real, fake, "kl").item() == pytest.approx(direct.item())


def test_bgan_discrete_gradient_is_the_weighted_score_function():
    log_prob = torch.tensor([[-1.0, -2.0, -0.5]], requires_grad=True)
    v = torch.tensor([[0.0, 1.0, -1.0]])
    bgan.discrete_generator_loss(log_prob, v, "js").backward()
    # -(w~_m - 1/M) for each sample's log g(x_m | z): the normalised weight less the baseline
    assert torch.allclose(log_prob.grad, -(torch.softmax(v, dim=1) - 1 / 3))


def test_cycle_and_identity_losses_are_weighted_l1_and_lsgan_is_least_squares():
    a = torch.tensor([[1.0, -1.0], [0.5, 0.0]])
    g = lambda x: 2 * x  # noqa: E731
    f = lambda x: x / 2 + 0.1  # noqa: E731
    assert cycle.cycle_loss(f(g(a)), a, 10.0).item() == pytest.approx(10 * 0.1)
    assert cycle.identity_loss(g(a), a, 5.0).item() == pytest.approx(5 * (1 + 1 + 0.5 + 0) / 4)
    real, fake = torch.tensor([1.0, 0.5]), torch.tensor([0.0, 0.5])
    assert cycle.lsgan_discriminator_loss(real, fake).item() == pytest.approx(0.5 * (0.125 + 0.125))
    assert cycle.lsgan_generator_loss(fake).item() == pytest.approx((1 + 0.25) / 2)


def test_infogan_categorical_term_is_cross_entropy_and_continuous_a_unit_gaussian_nll():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    codes = torch.tensor([0, 2])
    direct = -(logits.log_softmax(1)[0, 0] + logits.log_softmax(1)[1, 2]) / 2
    assert info.categorical_information_loss(logits, codes).item() == pytest.approx(direct.item())
    means, c = torch.tensor([[0.5, -0.5], [0.0, 1.0]]), torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    assert info.continuous_information_loss(means, c).item() == pytest.approx(0.5 * (0.5 + 1.0) / 2)


def test_image_pool_fills_then_swaps_half_the_time():
    torch.manual_seed(0)
    pool = ImagePool(4, (1, 2, 2))
    first = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 1, 2, 2)
    assert torch.equal(pool.query(first), first) and pool.count.item() == 4
    new = torch.arange(10.0, 210.0).view(200, 1, 1, 1).expand(200, 1, 2, 2)
    out = pool.query(new)
    from_pool = (out != new).flatten(1).all(1)
    assert 60 < from_pool.sum().item() < 140  # about half are earlier fakes
    kept = set(out[:, 0, 0, 0].tolist()) | set(pool.images[:, 0, 0, 0].tolist())
    assert kept == set(range(4)) | set(range(10, 210))  # every image either came back or is still pooled
    assert ImagePool(0, (1, 2, 2)).query(new) is new


def test_progan_schedule_fades_each_resolution_in_then_holds_it():
    got = [schedule(step, 4, 3) for step in range(0, 24, 2)]
    assert got == [
        (0, 1.0), (0, 1.0),  # 4x4
        (1, 0.0), (1, 0.5), (1, 1.0), (1, 1.0),  # 8x8: fade in, hold
        (2, 0.0), (2, 0.5), (2, 1.0), (2, 1.0),  # 16x16
        (2, 1.0), (2, 1.0),  # then stays at full size
    ]  # fmt: skip


def test_progan_layers():
    x = torch.randn(8, 5, 3, 3)
    normed = PixelNorm()(x)
    assert torch.allclose(normed.pow(2).mean(1), torch.ones(8, 3, 3), atol=1e-4)
    out = MinibatchStdDev()(x)
    assert out.shape == (8, 6, 3, 3)
    group = torch.stack([x[0], x[2], x[4], x[6]])  # groups take every (N / 4)-th example
    assert out[0, 5, 0, 0].item() == pytest.approx(group.std(0, unbiased=False).mean().item(), rel=1e-4)
    conv = EqualizedConv2d(5, 7, 3)
    assert conv.scale == pytest.approx(math.sqrt(2) / math.sqrt(5 * 9))
    # the engine's uniform latent through the normal quantile function: the paper's N(0, 1)
    normal = NormalLatent()(torch.tensor([0.5, 0.8413447, 0.0227501, 0.0]))
    assert torch.allclose(normal[:3], torch.tensor([0.0, 1.0, -2.0]), atol=1e-4) and torch.isfinite(normal[3])


def test_coded_generator_reads_and_writes_its_codes_in_z():
    g = CodedGenerator(nn.Identity(), 6, (1, 1, 1), categories=10, continuous=2)
    z = torch.rand(5, 6)
    coded = g.latents(z, category=torch.tensor([0, 3, 9, 4, 4]), continuous=torch.full((5, 2), -0.5))
    assert g.category(coded).tolist() == [0, 3, 9, 4, 4]
    assert torch.allclose(g.continuous_codes(coded), torch.full((5, 2), -0.5))
    inputs = g(coded)
    assert inputs.shape == (5, g.input_dim) == (5, 3 + 10 + 2)
    assert torch.equal(inputs[:, :3], z[:, 3:])  # the noise passes through untouched


@pytest.mark.parametrize(
    ("recipe", "overrides", "field"),
    [
        ("wgan", {"gans": {"n_critic": 0}}, "gans.n_critic"),
        ("wgan", {"gans": {"clip_value": 0}}, "gans.clip_value"),
        ("wgan_gp", {"gans": {"gp_weight": -1}}, "gans.gp_weight"),
        ("wgan_gp", {"model": {"architecture": "dcgan"}}, "model.architecture"),
        ("dcgan", {"model": {"architecture": "resnet"}}, "model.architecture"),
        ("wgan", {"model": {"weight_norm": True}}, "model.weight_norm"),
        ("began", {"gans": {"began_gamma": 1.5}}, "gans.began_gamma"),
        ("progan", {"data": {"image_size": 28}}, "data.image_size"),
        ("progan", {"gans": {"progan_phase_steps": -1}}, "gans.progan_phase_steps"),
        ("cyclegan", {"gans": {"cyclegan_domain_a": " , "}}, "gans.cyclegan_domain_a"),
        ("cyclegan", {"gans": {"cyclegan_domain_b": "5"}}, "gans.cyclegan_domain_b"),
        ("cyclegan", {"gans": {"cyclegan_domain_a": "12"}}, "gans.cyclegan_domain_a"),
        ("cyclegan", {"gans": {"cyclegan_identity_weight": 2}}, "gans.cyclegan_identity_weight"),
        ("bgan", {"gans": {"bgan_samples": 1}}, "gans.bgan_samples"),
        ("bgan", {"gans": {"bgan_divergence": "tv"}}, "gans.bgan_divergence"),
        ("bgan", {"gans": {"bgan_mode": "mixed"}}, "gans.bgan_mode"),
        ("cgan", {"gans": {"cgan_classes": 7}}, "gans.cgan_classes"),
        ("cgan", {"model": {"z_dim": 1}}, "model.z_dim"),
        ("infogan", {"model": {"z_dim": 3}}, "model.z_dim"),
        ("infogan", {"gans": {"info_categories": 1}}, "gans.info_categories"),
        ("infogan", {"gans": {"info_categories": 0, "info_continuous": 0}}, "gans.info_categories"),
        ("infogan", {"gans": {"info_weight": "lots"}}, "gans.info_weight"),
        ("cgan", {"data": {"labels": 100}}, "data.labels"),
    ],
)
def test_bad_hyper_parameters_name_their_field(recipe, overrides, field):
    with pytest.raises(ConfigError) as info_:
        build_config(recipe, overrides)
    assert field in info_.value.errors


def test_each_recipe_has_its_defaults():
    assert build_config("wgan").gans.clip_value == 0.01 and build_config("wgan").optim.lr == 5e-5
    gp = build_config("wgan_gp")
    assert (gp.optim.beta1, gp.optim.beta2, gp.gans.gp_weight, gp.gans.n_critic) == (0.0, 0.9, 10.0, 5)
    assert build_config("wgan_gp", {"model": {"architecture": "resnet"}}).model.architecture == "resnet"
    assert build_config("progan").data.image_size == 32 and build_config("progan").gans.n_critic == 1
    assert build_config("cyclegan", {"gans": {"cyclegan_domain_a": "Sandal, Bag"}}).gans.cyclegan_domain_a
    assert build_config("infogan").model.z_dim == 65
