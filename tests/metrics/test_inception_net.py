"""The canonical network against torch-fidelity's extractor, both loading one random-weight file.

Equal outputs on random weights and random images prove the architecture, the weight layout, the batch
norm folding, the merged and reordered branches and the TensorFlow resize, without the real weights.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gan_engine.metrics import inception_score, softmax
from gan_engine.metrics.inception_net import state_dict_layout
from gan_engine.metrics.tf_resize import resize_bilinear_tf1


def images(n: int, h: int, w: int, channels: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, channels, h, w), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("h, w", [(28, 28), (32, 32), (8, 13), (400, 350), (299, 299)])
def test_resize_is_bit_identical_to_torch_fidelity(h, w):
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    x = images(2, h, w, seed=h * w).float()
    theirs = interpolate_bilinear_2d_like_tensorflow1x(x, size=(299, 299), align_corners=False)
    assert torch.equal(resize_bilinear_tf1(x, (299, 299)), theirs)


def test_layout_is_torch_fidelitys(tf_extractor):
    theirs = {k: tuple(v.shape) for k, v in tf_extractor.state_dict().items()}
    assert state_dict_layout() == theirs


@pytest.fixture(scope="module", params=[(6, 28, 28), (2, 32, 40)], ids=["28x28", "32x40"])
def both_outputs(request, tf_extractor, random_inception):
    """torch-fidelity's and our (features, logits) for one batch of random images."""
    n, h, w = request.param
    x = images(n, h, w, seed=h + w)
    with torch.inference_mode():
        theirs = tf_extractor(x)
    ours = random_inception.extract(x, batch_size=4)  # two batches, split over worker threads
    return theirs, (torch.from_numpy(ours.features), torch.from_numpy(ours.logits))


def test_features_and_logits_match_torch_fidelity(both_outputs):
    (their_features, their_logits), (features, logits) = both_outputs
    assert features.shape == their_features.shape and features.shape[1] == 2048
    assert logits.shape == their_logits.shape and logits.shape[1] == 1008
    assert their_features.std() > 0.5 and their_logits.std() > 0.5  # the random net is not degenerate
    # Folding batch norm and reordering pools only change float rounding.
    assert torch.allclose(features, their_features, rtol=1e-4, atol=1e-4 * float(their_features.abs().max()))
    assert torch.allclose(logits, their_logits, rtol=1e-4, atol=1e-4 * float(their_logits.abs().max()))


def test_inception_score_equals_torch_fidelitys(both_outputs):
    from torch_fidelity.metric_isc import isc_features_to_metric

    (_, their_logits), (_, logits) = both_outputs
    splits = 2 if len(logits) >= 4 else 1
    theirs = isc_features_to_metric(their_logits, splits=splits, shuffle=False)
    mean, std = inception_score(softmax(logits), splits=splits)
    # A random network barely separates images, so IS sits just above 1: compare the part above 1.
    assert mean - 1 > 1e-4
    assert mean - 1 == pytest.approx(theirs["inception_score_mean"] - 1, rel=1e-3)
    assert std == pytest.approx(theirs["inception_score_std"], rel=1e-2, abs=1e-7)


def test_grey_images_are_scored_as_three_equal_channels(random_inception):
    grey = images(2, 28, 28, channels=1, seed=3)
    a = random_inception.extract(grey)
    b = random_inception.extract(grey.repeat(1, 3, 1, 1))
    np.testing.assert_array_equal(a.logits, b.logits)


def test_extract_keeps_order_across_batches_and_threads(random_inception):
    x = images(5, 28, 28, seed=4)
    whole = random_inception.extract(x, batch_size=5)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one image at a time, no worker threads: the plain path
    try:
        single = random_inception.extract(x, batch_size=1)
    finally:
        torch.set_num_threads(threads)
    assert torch.get_num_threads() == threads
    np.testing.assert_allclose(whole.features, single.features, rtol=1e-5, atol=1e-4)
    assert not np.allclose(whole.features[0], whole.features[1])
