"""Salimans et al. 2016: one image at a time, unlimited viewing, feedback as the study's condition says.

The paper fixed no sequence length or mix; the study's own settings (default 100 images, half real) apply.
"""

from __future__ import annotations

from annotation.protocols.base import Protocol

SALIMANS = Protocol(name="salimans", title="Salimans et al. 2016 (unlimited viewing)")
