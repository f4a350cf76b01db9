import pytest
import torch

from gan_engine.errors import ConfigError
from gan_engine.sampling import generate, load_generator, uses_batch_statistics
from gan_engine.training.loop import train

BATCH = 4


@pytest.fixture
def bn_generator(tmp_path, tiny):
    """A trained DCGAN checkpoint: its generator normalises with the batch's own statistics."""
    config = tiny("dcgan", optim__batch_size=BATCH, optim__steps=2, run__sample_every=0)
    result = train(config, tmp_path / "dcgan")
    loaded = load_generator(result.checkpoint, "cpu")
    assert uses_batch_statistics(loaded.generator)
    return loaded


@pytest.mark.parametrize("n", [2 * BATCH, 2 * BATCH + 1, 3 * BATCH - 1])  # n % batch: 0, 1, batch - 1
def test_every_image_comes_from_a_full_batch_whatever_n(bn_generator, n):
    images = generate(bn_generator, n, seed=5, batch_size=BATCH)
    assert images.shape[0] == n
    # Image i is the image a longer request gives at i: the last batch is padded, not short.
    longer = generate(bn_generator, 4 * BATCH, seed=5, batch_size=BATCH)
    assert torch.equal(images, longer[:n])
    # A last batch of one image does not collapse onto the batch-norm bias: z still matters.
    last = images[(n - 1) // BATCH * BATCH :]
    assert len({bytes(img.numpy()) for img in images}) == n
    assert last.shape[0] == n - (n - 1) // BATCH * BATCH


def test_single_image_requests_differ_by_seed(bn_generator):
    one = [generate(bn_generator, 1, seed=s, batch_size=BATCH) for s in (0, 100)]
    assert not torch.equal(one[0], one[1])


def test_batch_of_one_is_refused_for_a_batch_norm_generator(bn_generator):
    with pytest.raises(ConfigError) as exc:
        generate(bn_generator, 3, batch_size=1)
    assert "batch_size" in exc.value.errors
