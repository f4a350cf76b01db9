"""Sample-quality metrics: the Inception Score, FID and KID, and the networks (scorers) behind them.

Importing this package loads no torch: the maths are NumPy functions and the scorer registry is plain
data, so the web process can list scorers and the tests can check formulas without a network. The
networks live in ``canonical`` (Inception-v3, 2015-12-05) and ``domain_scorer`` (the per-dataset CNN),
loaded through ``load_scorer``.
"""

from gan_engine.metrics.fid import (
    feature_statistics,
    frechet_distance,
    kernel_inception_distance,
    polynomial_mmd2,
)
from gan_engine.metrics.inception_score import image_kl, inception_score, softmax, split_scores, top_fraction
from gan_engine.metrics.scorers import SCORERS, ScorerInfo, domain_scorer_name, load_scorer

__all__ = [
    "SCORERS",
    "ScorerInfo",
    "domain_scorer_name",
    "feature_statistics",
    "frechet_distance",
    "image_kl",
    "inception_score",
    "kernel_inception_distance",
    "load_scorer",
    "polynomial_mmd2",
    "softmax",
    "split_scores",
    "top_fraction",
]
