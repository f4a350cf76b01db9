"""A small self-contained SVG scatter of human error against pool scores, for the results page to inline."""

from __future__ import annotations

import html
import math

from annotation.stats.correlation import Correlation, PoolPoint


def _nice_step(span: float, target_ticks: int = 5) -> float:
    """A 1, 2 or 5 × 10^k tick step giving about ``target_ticks`` ticks over ``span``."""
    raw = span / target_ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def _axis(low: float, high: float, *, pad_low: bool = True) -> tuple[float, float, list[float]]:
    """A range with round ends containing [low, high] padded by 5% (so no point sits on an axis line), and its
    ticks. ``pad_low=False`` keeps ``low`` as it is (a rate axis from 0)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        low, high = 0.0, 1.0
    if high - low < 1e-12:
        low, high = low - 0.5, high + 0.5
    margin = 0.05 * (high - low)
    low, high = (low - margin if pad_low else low), high + margin
    step = _nice_step(high - low)
    start, stop = math.floor(low / step) * step, math.ceil(high / step) * step
    ticks = [start + i * step for i in range(round((stop - start) / step) + 1)]
    return start, stop, ticks


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _bar(point: PoolPoint) -> tuple[float, float]:
    """A point's error bar: its interval clustered by annotators and images where defined, else Wilson's."""
    if _finite(point.clustered_ci_low) and _finite(point.clustered_ci_high):
        return point.clustered_ci_low, point.clustered_ci_high
    return point.error_ci_low, point.error_ci_high


def scatter_svg(
    correlation: Correlation,
    x_label: str = "Inception Score",
    y_label: str = "human error",
    *,
    width: int = 480,
    height: int = 360,
) -> str:
    """An ``<svg>`` element: one point per pool at (score, human error) with its interval (:func:`_bar`) as a vertical
    error bar, a tooltip (``<title>``) per point, axes with ticks, the labels and a caption with r and ρ.

    Plain string building, no plotting library; every label is escaped with ``html.escape``. Colours come from
    ``currentColor`` so that the page's text colour (light or dark theme) applies. The y axis starts at 0 when the
    errors are rates, so that bar lengths compare honestly.
    """
    points = [p for p in correlation.points if _finite(p.score) and _finite(p.human_error)]
    left, right, top, bottom = 60, 16, 28, 48
    plot_w, plot_h = width - left - right, height - top - bottom

    xs = [p.score for p in points]
    ys = [v for p in points for v in (p.human_error, *_bar(p)) if _finite(v)]
    x0, x1, x_ticks = _axis(min(xs, default=0.0), max(xs, default=1.0))
    y0, y1, y_ticks = _axis(min([0.0, *ys]), max(ys, default=1.0), pad_low=False)

    def sx(v: float) -> float:
        return left + (v - x0) / (x1 - x0) * plot_w

    def sy(v: float) -> float:
        return top + (1 - (v - y0) / (y1 - y0)) * plot_h

    caption = f"r = {_fmt(correlation.pearson_r)}, ρ = {_fmt(correlation.spearman_rho)}, {correlation.n_pools} pools"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{html.escape(y_label)} against {html.escape(x_label)}" '
        'font-family="sans-serif" font-size="11" fill="currentColor" stroke="currentColor">',
        f'<text x="{left}" y="{top - 10}" stroke="none">{html.escape(caption)}</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}"/>',
    ]
    for t in x_ticks:
        px = sx(t)
        out.append(f'<line x1="{px:.1f}" y1="{top + plot_h}" x2="{px:.1f}" y2="{top + plot_h + 4}"/>')
        out.append(f'<text x="{px:.1f}" y="{top + plot_h + 16}" text-anchor="middle" stroke="none">{_fmt(t)}</text>')
    for t in y_ticks:
        py = sy(t)
        out.append(f'<line x1="{left - 4}" y1="{py:.1f}" x2="{left}" y2="{py:.1f}"/>')
        out.append(f'<text x="{left - 7}" y="{py + 4:.1f}" text-anchor="end" stroke="none">{_fmt(t)}</text>')
    out.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 8}" text-anchor="middle" stroke="none">'
        f"{html.escape(x_label)}</text>"
    )
    out.append(
        f'<text transform="translate(14 {top + plot_h / 2:.1f}) rotate(-90)" text-anchor="middle" stroke="none">'
        f"{html.escape(y_label)}</text>"
    )
    if not points:
        out.append(
            f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h / 2:.1f}" text-anchor="middle" stroke="none">'
            "no pools with judgments</text>"
        )
    for p in points:
        px, py = sx(p.score), sy(p.human_error)
        tip = (
            f"pool {p.pool}: {x_label} {_fmt(p.score)}, {y_label} {_fmt(p.human_error)} "
            f"[{_fmt(_bar(p)[0])}, {_fmt(_bar(p)[1])}], n = {p.n}"
        )
        out.append(f"<g><title>{html.escape(tip)}</title>")
        if _finite(_bar(p)[0]) and _finite(_bar(p)[1]):
            lo, hi = sy(_bar(p)[0]), sy(_bar(p)[1])
            out.append(f'<line x1="{px:.1f}" y1="{lo:.1f}" x2="{px:.1f}" y2="{hi:.1f}"/>')
            for cap in (lo, hi):
                out.append(f'<line x1="{px - 3:.1f}" y1="{cap:.1f}" x2="{px + 3:.1f}" y2="{cap:.1f}"/>')
        out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3.5" stroke="none"/></g>')
    out.append("</svg>")
    return "\n".join(out)
