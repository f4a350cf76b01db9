"""The paper's layers: weight norm with data-dependent init, Gaussian noise, minibatch
discrimination, virtual batch norm."""

from gan_engine.nn.gaussian_noise import GaussianNoise
from gan_engine.nn.minibatch_discrimination import MinibatchDiscrimination
from gan_engine.nn.normalization import BatchNorm, VirtualBatchNorm, make_generator_norm
from gan_engine.nn.weight_norm import WNConv2d, WNConvTranspose2d, WNLinear, data_dependent_init, frozen

__all__ = [
    "BatchNorm",
    "GaussianNoise",
    "MinibatchDiscrimination",
    "VirtualBatchNorm",
    "WNConv2d",
    "WNConvTranspose2d",
    "WNLinear",
    "data_dependent_init",
    "frozen",
    "make_generator_norm",
]
