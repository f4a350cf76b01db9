"""HYPE-time's staircase on displays that show whole frames: where it settles when it steps from the exposure
requested (what it does) and when it steps from the exposure shown (the requested one rounded to the frame grid).

A simulated annotator answers a two-alternative task right with probability 0.5 + 0.5·logistic((t − θ)/s) of the
exposure t shown, θ = 300 ms (75% right there), s = 40 ms. The page shows the nearest whole number of frames
(at least one, halves up, as static/annotation/task.js does). For each refresh rate and stepping rule this prints
the share of right answers after the first block and the mean median exposure shown, over independent runs:
stepping from the exposure shown turns 10 ms down / 30 ms up into whole-frame steps whose ratio depends on the
refresh rate, and so does the target.

    .venv/bin/python bench/staircase_frames.py                      # 60, 75, 120, 144 Hz; 450 trials; 200 runs
    .venv/bin/python bench/staircase_frames.py --hz 60 240 --runs 1000
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from annotation.stats.staircase import START_MS, next_exposure

THRESHOLD_MS = 300.0
SLOPE_MS = 40.0


def right_probability(shown_ms: float) -> float:
    return 0.5 + 0.5 / (1 + math.exp(-(shown_ms - THRESHOLD_MS) / SLOPE_MS))


def shown(requested_ms: float, frame_ms: float) -> float:
    return max(1, math.floor(requested_ms / frame_ms + 0.5)) * frame_ms


def run(frame_ms: float, from_shown: bool, trials: int, burn_in: int, rng: np.random.Generator) -> tuple[float, float]:
    """One annotator's sequence: the share right and the median exposure shown after ``burn_in`` trials."""
    requested, right, exposures = START_MS, [], []
    for _ in range(trials):
        on_screen = shown(requested, frame_ms)
        correct = bool(rng.random() < right_probability(on_screen))
        right.append(correct)
        exposures.append(on_screen)
        requested = next_exposure(on_screen if from_shown else requested, correct)
    return float(np.mean(right[burn_in:])), float(np.median(exposures[burn_in:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hz", type=float, nargs="+", default=[60, 75, 120, 144])
    parser.add_argument("--trials", type=int, default=450)
    parser.add_argument("--burn-in", type=int, default=150)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"annotator: 75% right at {THRESHOLD_MS:.0f} ms shown; {args.trials} trials, first {args.burn_in} left out")
    print("refresh   steps from   right    median shown")
    for hz in args.hz:
        for from_shown in (False, True):
            rng = np.random.default_rng(args.seed)
            runs = [run(1000 / hz, from_shown, args.trials, args.burn_in, rng) for _ in range(args.runs)]
            right, median = np.mean(runs, axis=0)
            print(f"{hz:5.0f} Hz  {'shown' if from_shown else 'requested':<11}  {right:6.1%}  {median:7.0f} ms")


if __name__ == "__main__":
    main()
