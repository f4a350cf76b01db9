"""Per-annotator quality: accuracy and errors, attention checks, exclusion of flagged annotators, and the
qualification rule."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numpy as np

from annotation.stats.confusion import confusion, ratio
from annotation.stats.result import Result
from annotation.stats.table import Judgments

QUALIFICATION_THRESHOLD = 0.65


@dataclasses.dataclass(frozen=True)
class AnnotatorSummary(Result):
    """One annotator's numbers. ``n``, ``accuracy``, ``fake_error`` and ``real_error`` are over their scored
    judgments (attention checks excluded; NaN when undefined); ``attention_n`` counts their attention-check
    judgments and ``attention_missed`` the wrong ones among them."""

    annotator: int
    n: int
    accuracy: float
    fake_error: float
    real_error: float
    attention_n: int
    attention_missed: int
    flagged: bool


def per_annotator(j: Judgments, max_attention_missed: int = 0) -> list[AnnotatorSummary]:
    """A summary per annotator, sorted by annotator id. An annotator is ``flagged`` when they missed more than
    ``max_attention_missed`` attention checks (default 0: any miss flags), the usual screen for inattentive
    crowd workers (Oppenheimer, Meyvis & Davidenko 2009, "Instructional manipulation checks", JESP 45)."""
    ids, codes = np.unique(j.annotator, return_inverse=True)
    codes = codes.reshape(-1)

    def tally(mask: np.ndarray) -> np.ndarray:
        return np.bincount(codes[mask], minlength=len(ids))

    scored = ~j.attention
    n_real = tally(scored & j.truth_real)
    n_fake = tally(scored & ~j.truth_real)
    real_judged_fake = tally(scored & j.truth_real & ~j.answer_real)
    fake_judged_real = tally(scored & ~j.truth_real & j.answer_real)
    attention_n = tally(j.attention)
    missed = tally(j.attention & ~j.correct)
    summaries = []
    for i, annotator in enumerate(ids):
        n = int(n_real[i] + n_fake[i])
        summaries.append(
            AnnotatorSummary(
                annotator=int(annotator),
                n=n,
                accuracy=ratio(n - int(real_judged_fake[i] + fake_judged_real[i]), n),
                fake_error=ratio(int(fake_judged_real[i]), int(n_fake[i])),
                real_error=ratio(int(real_judged_fake[i]), int(n_real[i])),
                attention_n=int(attention_n[i]),
                attention_missed=int(missed[i]),
                flagged=bool(missed[i] > max_attention_missed),
            )
        )
    return summaries


def exclude_flagged(j: Judgments, summaries: Iterable[AnnotatorSummary]) -> Judgments:
    """``j`` without the judgments of the annotators flagged in ``summaries``."""
    flagged = [s.annotator for s in summaries if s.flagged]
    return j.subset(~np.isin(j.annotator, flagged))


def qualification_passed(j: Judgments, threshold: float = QUALIFICATION_THRESHOLD) -> bool:
    """Whether one annotator's qualification judgments pass: at least ``threshold`` (65%) right on the real images
    AND at least ``threshold`` right on the generated ones (attention checks excluded).

    Requiring both halves stops an annotator who answers "real" (or "generated") to everything from passing at
    50% overall. False when either half is empty. Raises ``ValueError`` when ``j`` holds more than one annotator.
    """
    if len(np.unique(j.annotator)) > 1:
        raise ValueError("qualification_passed: judgments of more than one annotator; pass one annotator's subset")
    counts = confusion(j.scored())
    if counts.n_real == 0 or counts.n_fake == 0:
        return False
    real_right = counts.real_judged_real / counts.n_real
    fake_right = (counts.n_fake - counts.fake_judged_real) / counts.n_fake
    return bool(real_right >= threshold and fake_right >= threshold)
