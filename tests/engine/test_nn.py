"""Each layer's defining property, checked against a direct computation."""

import torch

from gan_engine.nn import (
    BatchNorm,
    GaussianNoise,
    MinibatchDiscrimination,
    VirtualBatchNorm,
    WNConv2d,
    WNConvTranspose2d,
    WNLinear,
    data_dependent_init,
)


def test_vbn_output_does_not_depend_on_batch_mates():
    torch.manual_seed(0)
    vbn = VirtualBatchNorm(6, ref_size=8)
    ref = torch.randn(8, 6, 4, 4)
    x = torch.randn(5, 6, 4, 4)
    others = torch.randn(5, 6, 4, 4) * 3 + 1
    out_a = vbn(torch.cat([ref, x]))[8:]
    out_b = vbn(torch.cat([ref, x[:1], others[1:]]))[8:]
    torch.testing.assert_close(out_a[0], out_b[0])  # example 0 is unchanged by new batch-mates
    assert not torch.allclose(out_a[1:], out_b[1:])
    # batch norm, by contrast, does depend on them
    bn = BatchNorm(6)
    assert not torch.allclose(bn(x)[0], bn(torch.cat([x[:1], others[1:]]))[0])


def test_vbn_matches_the_formula():
    torch.manual_seed(1)
    vbn = VirtualBatchNorm(3, ref_size=4)
    ref, x = torch.randn(4, 3), torch.randn(2, 3)
    out = vbn(torch.cat([ref, x]))
    # reference rows: their own statistics
    mean, sq = ref.mean(0), ref.pow(2).mean(0)
    expect_ref = (ref - mean) / (sq - mean**2 + 1e-5).sqrt() * vbn.gamma + vbn.beta
    torch.testing.assert_close(out[:4], expect_ref)
    # other rows: 1/(N+1) of their own statistics, N/(N+1) of the reference's
    m = x / 5 + mean * 4 / 5
    s = x.pow(2) / 5 + sq * 4 / 5
    torch.testing.assert_close(out[4:], (x - m) / (s - m**2 + 1e-5).sqrt() * vbn.gamma + vbn.beta)


def _direct_minibatch_features(layer, x):
    weight = layer.theta * (layer.log_weight_scale.exp() / layer.theta.pow(2).sum(0).sqrt())
    m = torch.einsum("na,abc->nbc", x, weight)
    n = len(x)
    o = torch.zeros(n, layer.kernels)
    for i in range(n):
        for j in range(n):
            if i != j:
                o[i] += torch.exp(-(m[i] - m[j]).abs().sum(-1))
    return torch.cat([x, o + layer.bias], 1)


def test_minibatch_features_match_direct_computation_and_react_to_others():
    torch.manual_seed(2)
    layer = MinibatchDiscrimination(7, kernels=4, dims=3, std=0.3)
    x = torch.randn(5, 7)
    out = layer(x)
    torch.testing.assert_close(out, _direct_minibatch_features(layer, x), rtol=1e-5, atol=1e-5)
    moved = x.clone()
    moved[3] += 5.0
    out_moved = layer(moved)
    assert not torch.allclose(out[0, 7:], out_moved[0, 7:])  # example 0's features see example 3
    torch.testing.assert_close(out[0, :7], out_moved[0, :7])  # its own features are passed through
    alone = layer(x[:1])
    torch.testing.assert_close(alone[0, 7:], layer.bias.detach())  # no others: only the bias


def test_minibatch_segments_equal_separate_passes():
    torch.manual_seed(3)
    layer = MinibatchDiscrimination(6, kernels=5, dims=2)
    a, b = torch.randn(4, 6), torch.randn(3, 6)
    joint = layer(torch.cat([a, b]), segments=[4, 3])
    torch.testing.assert_close(joint, torch.cat([layer(a), layer(b)]))


def test_weight_norm_rows_have_norm_g():
    torch.manual_seed(4)
    for layer, dims, out_dim in (
        (WNLinear(5, 3), (1,), 0),
        (WNConv2d(2, 4, 3), (1, 2, 3), 0),
        (WNConvTranspose2d(4, 2, 5), (0, 2, 3), 1),
    ):
        with torch.no_grad():
            layer.g.copy_(torch.rand_like(layer.g) + 0.5)
        norms = layer.weight().pow(2).sum(dims).sqrt().flatten()
        torch.testing.assert_close(norms, layer.g.detach(), rtol=1e-4, atol=1e-4)
        assert layer.weight().shape[out_dim] == layer.g.shape[0]


def test_data_dependent_init_standardises_each_layer():
    torch.manual_seed(5)
    net = torch.nn.Sequential(WNLinear(10, 20, init_stdv=1.0), torch.nn.ReLU(), WNLinear(20, 6, init_stdv=0.1))
    x = torch.randn(500, 10) * 4 + 2
    assert data_dependent_init(net, lambda: net(x)) == 2
    with torch.no_grad():
        h = net[0](x)
        torch.testing.assert_close(h.mean(0), torch.zeros(20), atol=1e-4, rtol=0)
        torch.testing.assert_close(h.std(0, unbiased=False), torch.ones(20), atol=1e-3, rtol=0)
        out = net(x)
        torch.testing.assert_close(out.std(0, unbiased=False), torch.full((6,), 0.1), atol=1e-4, rtol=0)
    assert not net[0]._init_pending


def test_conv_data_dependent_init_uses_channel_statistics():
    torch.manual_seed(6)
    conv = WNConv2d(3, 8, 3, padding=1)
    x = torch.randn(64, 3, 8, 8) * 2
    data_dependent_init(conv, lambda: conv(x))
    with torch.no_grad():
        y = conv(x)
    torch.testing.assert_close(y.mean((0, 2, 3)), torch.zeros(8), atol=1e-4, rtol=0)
    torch.testing.assert_close(y.pow(2).mean((0, 2, 3)).sqrt(), torch.ones(8), atol=1e-3, rtol=0)


def test_minibatch_data_init_scales_nearest_distances():
    torch.manual_seed(7)
    layer = MinibatchDiscrimination(8, kernels=3, dims=4)
    x = torch.randn(50, 8)
    data_dependent_init(layer, lambda: layer(x))
    with torch.no_grad():
        dist = layer._distances(x) + torch.eye(50) * 1e6
        torch.testing.assert_close(dist.min(2).values.mean(1), torch.full((3,), 2.0), rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(layer(x)[:, 8:].mean(0), torch.zeros(3), atol=1e-4, rtol=0)


def test_gaussian_noise_only_in_training():
    torch.manual_seed(8)
    noise = GaussianNoise(0.5)
    x = torch.zeros(10000)
    assert abs(noise(x).std().item() - 0.5) < 0.02
    noise.eval()
    assert torch.equal(noise(x), x)
