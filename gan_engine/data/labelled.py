"""Choice of the labelled examples for semi-supervised training.

The paper's code shuffles the whole training set with ``numpy.random.RandomState(seed_data)`` and keeps the
first ``count / K`` examples of each class, so a seed names one labelled subset; doing the same here keeps
results comparable across runs and with the paper.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from gan_engine.errors import DatasetError


def labelled_subset(
    labels: torch.Tensor, count: int, num_classes: int, seed: int, *, classes: Sequence[str] = ()
) -> torch.Tensor:
    """Indices (int64) into ``labels`` of the labelled examples.

    ``count`` -1: every example with a label (>= 0); 0: none; N > 0: N / ``num_classes`` per class, the first
    of each class in a permutation seeded by ``seed``, classes in order. Raises ``DatasetError`` when N is not a
    multiple of ``num_classes`` or a class has too few examples (named from ``classes`` when given).
    """
    if count == -1:
        return torch.nonzero(labels >= 0).flatten().to(torch.int64)
    if count == 0:
        return torch.empty(0, dtype=torch.int64)
    if count < -1:
        raise DatasetError(f"labelled count must be -1 (all), 0 (none) or positive, not {count}")
    if num_classes < 1:
        raise DatasetError(f"{count} labelled examples asked for, but the dataset has no classes")
    if count % num_classes:
        raise DatasetError(f"{count} labelled examples cannot be balanced over {num_classes} classes; use a multiple")
    per_class = count // num_classes
    ys = labels.cpu().numpy()
    order = np.random.RandomState(seed).permutation(len(ys))
    shuffled = ys[order]
    chosen = []
    for c in range(num_classes):
        picked = order[shuffled == c][:per_class]
        if len(picked) < per_class:
            name = f"class {c} ({classes[c]})" if c < len(classes) else f"class {c}"
            raise DatasetError(
                f"{name} has {len(picked)} examples, fewer than the {per_class} per class that {count} "
                f"labelled examples over {num_classes} classes need"
            )
        chosen.append(picked)
    return torch.from_numpy(np.concatenate(chosen).astype(np.int64))
