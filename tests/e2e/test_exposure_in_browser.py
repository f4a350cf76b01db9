"""HYPE-time's exposures in a real browser: requested exposures across the staircase's range are shown for the
nearest whole number of frames, counted by an observer of the page's own, and the stored judgments carry the
timing the page measured.

Headless chromium draws at 60 Hz. On a loaded machine frames come late: a trial whose exposure had a dropped
frame must be flagged as such (and never shown shorter than asked), rather than fail the test; the others must
be shown within one frame of the nearest whole-frame exposure, the frames counted by the page and by the observer
within one of those requested, and the observer's own clock within two frames of the exposure measured.
"""

from __future__ import annotations

import math

import pytest

from annotation.protocols.base import Protocol
from testkit.browser import answer_trials, consent, judgments, practice, wait_state
from testkit.factories import open_study

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

REQUESTED_MS = [100, 250, 500, 1000]
# Beside the page's script, an observer of the images on screen: when each is put in the page and taken out
# (a mutation observer, on the page's clock) and in how many animation frames it is there.
OBSERVER = """
window.__shown = [];
(() => {
  const images = (nodes) => [...nodes].filter((node) => node.tagName === "IMG");
  new MutationObserver((records) => {
    for (const record of records) {
      const now = performance.now();
      for (const _ of images(record.addedNodes)) window.__shown.push({ added: now, removed: null, frames: 0 });
      for (const _ of images(record.removedNodes)) window.__shown.at(-1).removed = now;
    }
  }).observe(document, { childList: true, subtree: true });
  const tick = () => {
    const last = window.__shown.at(-1);
    if (last && last.removed === null && document.querySelector("#frame img")) last.frames++;
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})();
"""


def js_round(value: float) -> int:
    """Math.round: halves up (Python's round takes them to even)."""
    return math.floor(value + 0.5)


def test_requested_exposures_are_shown_in_whole_frames_and_stored(live_server, desktop, monkeypatch):
    # The staircase set to serve each exposure of the range in turn (the server runs in this process).
    exposures = iter([*REQUESTED_MS[1:], REQUESTED_MS[-1]])
    monkeypatch.setattr(Protocol, "first_exposure", lambda self: REQUESTED_MS[0])
    monkeypatch.setattr(Protocol, "next_exposure", lambda self, current, correct, new_block=False: next(exposures))
    study = open_study(protocol="hype_time", items_per_assignment=4, block_size=4, judgments_per_item=1)
    page = desktop
    page.add_init_script(OBSERVER)
    page.goto(live_server.url + study.entry_path)
    consent(page)
    practice(page, page, timed=True)
    answer_trials(page, page, len(REQUESTED_MS), keys="fj")
    wait_state(page, "finish")
    stored = judgments(study)
    # The practice's timed placeholder is a canvas: only the study's images were observed.
    observed = page.evaluate("window.__shown")
    assert len(observed) == len(stored) == len(REQUESTED_MS)
    assert [j.assignment_item.exposure_ms for j in stored] == REQUESTED_MS
    refresh = stored[0].refresh_ms
    # One estimate per page, of a 60 Hz frame clock (the median keeps it there when some frames come late).
    assert all(j.refresh_ms == refresh for j in stored)
    assert 1000 / 66 < refresh < 1000 / 54
    flagged = 0
    for requested, judgment, seen in zip(REQUESTED_MS, stored, observed, strict=True):
        frames = js_round(requested / refresh)
        shown = judgment.exposure_shown_ms
        assert judgment.frames_requested == frames
        assert shown == pytest.approx(judgment.stimulus_offset_ms - judgment.stimulus_onset_ms)
        assert judgment.frames_shown == js_round(shown / refresh)
        # The masks follow the image in the frame it leaves, four of two frames each (30 ms at 60 Hz).
        assert judgment.mask_onset_ms == judgment.stimulus_offset_ms
        assert judgment.mask_offset_ms - judgment.mask_onset_ms >= 4 * (2 - 0.5) * refresh
        assert judgment.response_ms >= shown
        # Never shorter than asked, stall or not.
        assert shown >= (frames - 0.5) * refresh
        if judgment.dropped_frames:
            flagged += 1  # the machine stalled: flagged, which is what a stall must give
            continue
        assert judgment.dropped_frames is False
        # Within one frame of the nearest whole-frame exposure, and as many frames as the observer counted.
        assert abs(shown - frames * refresh) < refresh, (requested, shown, frames, refresh)
        assert abs(judgment.frames_shown - frames) <= 1
        assert abs(seen["frames"] - frames) <= 1, (requested, seen, frames)
        # The image was in the page for the exposure measured: the observer's clock reads when its callback runs,
        # after the frame's timestamp by the callbacks' work (or a moment the machine gave another process).
        assert seen["removed"] - seen["added"] == pytest.approx(shown, abs=2 * refresh)
    shown = ", ".join(f"{r}→{j.exposure_shown_ms:.1f} ({j.frames_shown} f)" for r, j in zip(REQUESTED_MS, stored))
    print(f"refresh {refresh:.3f} ms; shown {shown}; {flagged} of {len(stored)} trials had a dropped frame")
