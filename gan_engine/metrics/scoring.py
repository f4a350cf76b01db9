"""One scoring pass over a set of images: IS, and FID/KID against real statistics, as a storable record.

A record always carries the scorer's name and weights hash; ``check_comparable`` refuses to put two
records from different networks side by side.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from gan_engine.errors import ScorerError
from gan_engine.metrics.fid import feature_statistics, frechet_distance, kernel_inception_distance
from gan_engine.metrics.inception_score import image_kl, softmax, split_scores
from gan_engine.metrics.real_stats import RealStats
from gan_engine.metrics.scorer import Scorer
from gan_engine.metrics.scorers import SCORERS


def score_images(
    images: torch.Tensor,
    scorer: Scorer,
    *,
    splits: int = 10,
    real: RealStats | None = None,
    kid: bool = True,
    batch_size: int = 32,
    on_batch: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """IS (mean, std over ``splits``) of ``images``, and FID and KID against ``real`` when given."""
    if real is not None and real.meta.get("weights_sha256") != scorer.weights_sha256:
        raise ScorerError(
            f"real statistics were computed with {real.meta.get('scorer')} ({real.meta.get('weights_sha256')}), "
            f"not with {scorer.name} ({scorer.weights_sha256})"
        )
    out = scorer.extract(images, batch_size=batch_size, on_batch=on_batch)
    probs = softmax(out.logits)
    per_split = split_scores(probs, splits)
    record: dict[str, Any] = {
        **scorer.identity,
        "scorer_kind": SCORERS.get(scorer.name).kind if scorer.name in SCORERS else "custom",
        "n": len(probs),
        "splits": splits,
        "is_mean": float(per_split.mean()),
        "is_std": float(per_split.std()),
        "is_per_split": [float(s) for s in per_split],
    }
    if real is not None:
        mu, sigma = feature_statistics(out.features)
        record["fid"] = frechet_distance(mu, sigma, real.mu, real.sigma)
        if kid:
            size = min(1000, len(out.features), len(real.kid_features))
            record["kid_mean"], record["kid_std"] = kernel_inception_distance(
                out.features, real.kid_features, subsets=100, subset_size=size
            )
            record["kid_subset_size"] = size
        record["real"] = {k: real.meta[k] for k in ("dataset", "split", "n", "images_sha256")}
    # KL(p(y|x) || p(y)) per image against the whole pool, in input order: ranks the pool for "top k%".
    record["image_kl"] = [round(float(v), 6) for v in image_kl(probs, splits=1)]
    return record


def check_comparable(*records: dict[str, Any]) -> None:
    """Raise ``ScorerError`` unless every record comes from the same network (name and weights hash)."""
    identities = {(r.get("scorer"), r.get("weights_sha256")) for r in records}
    if len(identities) > 1:
        listed = ", ".join(f"{name} ({(sha or '?')[:12]})" for name, sha in sorted(identities, key=str))
        raise ScorerError(f"scores from different networks cannot be compared: {listed}")


def top_images(record: dict[str, Any], fraction: float) -> np.ndarray:
    """Positions (manifest order) of the ``fraction`` of images with the highest per-image KL, best first."""
    if not 0 < fraction <= 1:
        raise ScorerError(f"fraction: must be in (0, 1], got {fraction}")
    kl = np.asarray(record["image_kl"])
    return np.argsort(-kl, kind="stable")[: max(1, round(fraction * len(kl)))]
