"""Real-data feature statistics for FID and KID, computed once per (dataset, split, count, scorer) and cached.

The cache key holds the scorer's weights hash and a digest of the images themselves, so statistics from
another network, or from a dataset whose files changed, are never reused. Computing them for Inception on
a CPU takes a while (about an hour for Fashion-MNIST's 60,000 training images); after that, scoring a pool
costs only the pool's own images.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gan_engine.errors import ScorerError
from gan_engine.metrics.fid import feature_statistics
from gan_engine.metrics.scorer import Scorer
from gan_engine.metrics.weights import stats_dir

KID_ROWS = 5000  # real features kept for KID: its subsets draw at most 1000 rows each
SUBSET_SEED = 0


@dataclass(frozen=True)
class RealStats:
    mu: np.ndarray
    sigma: np.ndarray
    kid_features: np.ndarray
    meta: dict[str, Any]  # dataset, split, n, scorer, weights_sha256, images_sha256


def _subset(total: int, n: int | None) -> np.ndarray:
    if n is None or n >= total:
        return np.arange(total)
    if n < 2:
        raise ScorerError(f"real_n: FID needs at least 2 real images, got {n}")
    return np.sort(np.random.RandomState(SUBSET_SEED).permutation(total)[:n])


def real_statistics(
    scorer: Scorer,
    dataset: str,
    split: str = "train",
    n: int | None = None,
    *,
    data_dir: str | None = None,
    batch_size: int = 32,
    cache_dir: str | Path | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> RealStats:
    """Mean, covariance and a KID sample of ``scorer``'s features over ``n`` images of the dataset split
    (all when ``n`` is None; otherwise a fixed random subset), from the cache when present."""
    from gan_engine.config import DataConfig
    from gan_engine.data import load_dataset

    images = load_dataset(DataConfig(dataset=dataset, data_dir=data_dir), split).images
    rows = _subset(len(images), n)
    images = images[rows].contiguous()
    digest = hashlib.sha256(images.numpy().tobytes()).hexdigest()
    folder = Path(cache_dir) if cache_dir is not None else stats_dir()
    path = folder / f"{dataset}-{split}-{len(rows)}-{digest[:12]}-{scorer.name}-{scorer.weights_sha256[:12]}.npz"
    if path.is_file():
        with np.load(path) as saved:
            meta = json.loads(str(saved["meta"]))
            if meta.get("weights_sha256") == scorer.weights_sha256 and meta.get("images_sha256") == digest:
                return RealStats(saved["mu"], saved["sigma"], saved["kid_features"], meta)

    features = scorer.extract(images, batch_size=batch_size, on_batch=on_batch).features
    mu, sigma = feature_statistics(features)
    kid_rows = np.random.RandomState(SUBSET_SEED).permutation(len(features))[:KID_ROWS]
    meta = {
        "dataset": dataset,
        "split": split,
        "n": len(rows),
        **scorer.identity,
        "images_sha256": digest,
    }
    stats = RealStats(mu, sigma, features[np.sort(kid_rows)], meta)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, mu=stats.mu, sigma=stats.sigma, kid_features=stats.kid_features, meta=json.dumps(meta))
    tmp.replace(path)
    return stats
