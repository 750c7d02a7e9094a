"""Small inline-SVG charts: line charts over months and a calibration/lift plot.

Written by hand so the report needs no JavaScript at all (it opens offline, in any browser, with
nothing to load) and stays a few hundred KB; each chart carries a <title> and a data table
beside it in the report for screen readers and copying.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

PALETTE = ("#1f6fb2", "#d9771e", "#2e8b57", "#8e44ad", "#c0392b", "#7f8c8d")
W, H = 560, 240
ML, MR, MT, MB = 56, 16, 28, 44


def _fmt(v: float, fmt: str) -> str:
    if fmt == "pct":
        return f"{v * 100:.0f}%"
    if fmt == "money":
        return f"${v:,.0f}"
    return f"{v:,.2f}" if abs(v) < 10 else f"{v:,.0f}"


def _ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    step = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(step))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= step), default=step)
    start = math.floor(lo / step) * step
    return [start + i * step for i in range(int(math.ceil((hi - start) / step - 1e-9)) + 1)]


def line_chart(
    title: str,
    x_labels: Sequence[str],
    series: dict[str, Sequence[float | None]],
    y_format: str = "num",
    y_min: float | None = 0.0,
    band: tuple[float, float] | None = None,
    incomplete: Sequence[bool] | None = None,
) -> str:
    """A line chart: one line per series over ``x_labels`` (gaps where a value is None).
    ``band`` shades a target range (e.g. a caseload guideline). ``incomplete`` (one flag per x)
    hatches the months whose data is still arriving (claims run-out), draws their points hollow and
    dashes the line into them, with a note under the title, so a drop there is not read as real."""
    values = [v for s in series.values() for v in s if v is not None and not math.isnan(v)]
    if band:
        values += list(band)
    if not x_labels or not values:
        return f'<p class="missing">{escape(title)}: no data yet.</p>'
    lo = min(values) if y_min is None else min(y_min, min(values))
    hi = max(values)
    ticks = _ticks(lo, hi)
    lo, hi = ticks[0], ticks[-1]
    rows = (len(series) + 2) // 3  # legend rows of three
    pw, ph = W - ML - MR, H - MT - MB - 14 * (rows - 1)
    n = len(x_labels)

    def x(i: int) -> float:
        return ML + (pw * i / (n - 1) if n > 1 else pw / 2)

    def y(v: float) -> float:
        return MT + ph - (v - lo) / (hi - lo) * ph

    parts = [f'<svg class="chart" role="img" viewBox="0 0 {W} {H}" xmlns="http://www.w3.org/2000/svg">',
             f"<title>{escape(title)}</title>",
             f'<text x="{ML}" y="16" class="ct">{escape(title)}</text>']
    if band:
        parts.append(f'<rect x="{ML}" y="{y(band[1]):.1f}" width="{pw}" height="{y(band[0]) - y(band[1]):.1f}" '
                     'class="band"/>')
    marked = [bool(f) for f in (incomplete or [])] + [False] * max(0, n - len(incomplete or []))
    if any(marked):
        half = (pw / (n - 1) / 2) if n > 1 else pw / 2
        parts.append('<defs><pattern id="runout" width="6" height="6" patternUnits="userSpaceOnUse" '
                     'patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="6" stroke="#999" '
                     'stroke-width="1.5"/></pattern></defs>')
        for i in (i for i in range(n) if marked[i]):
            left, right = max(ML, x(i) - half), min(W - MR, x(i) + half)
            parts.append(f'<rect x="{left:.1f}" y="{MT}" width="{right - left:.1f}" height="{ph}" fill="url(#runout)" '
                         'opacity="0.35" class="runout"><title>claims still running out</title></rect>')
        parts.append(f'<text x="{W - MR}" y="16" class="xl" text-anchor="end">hatched: incomplete month</text>')
    for t in ticks:
        parts.append(f'<line x1="{ML}" x2="{W - MR}" y1="{y(t):.1f}" y2="{y(t):.1f}" class="grid"/>'
                     f'<text x="{ML - 6}" y="{y(t) + 4:.1f}" class="yl">{escape(_fmt(t, y_format))}</text>')
    step = max(1, math.ceil(n / 8))
    for i in range(0, n, step):
        parts.append(f'<text x="{x(i):.1f}" y="{MT + ph + 16}" class="xl">{escape(x_labels[i])}</text>')
    for k, (name, vals) in enumerate(series.items()):
        colour = PALETTE[k % len(PALETTE)]
        runs: list[list[str]] = [[]]
        dashed: list[str] = []
        for i, v in enumerate(vals):
            if v is None or math.isnan(v):
                runs.append([])
                continue
            point = f"{x(i):.1f},{y(v):.1f}"
            if marked[i]:
                # a month still arriving: hollow point, dashed segment from the previous point
                if runs[-1]:
                    dashed.append(f"{runs[-1][-1]} {point}")
                runs.append([])
                parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.6" fill="white" stroke="{colour}"/>')
                continue
            runs[-1].append(point)
            parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.2" fill="{colour}"/>')
        for run in runs:
            if len(run) > 1:
                parts.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for seg in dashed:
            parts.append(f'<polyline points="{seg}" fill="none" stroke="{colour}" stroke-width="1.5" '
                         'stroke-dasharray="4 3"/>')
        lx, ly = ML + 8 + (k % 3) * 170, H - 14 - 14 * (rows - 1 - k // 3)
        parts.append(f'<rect x="{lx}" y="{ly}" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{lx + 14}" y="{ly + 9}" class="lg">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def calibration_chart(title: str, bins: Sequence[dict]) -> str:
    """Observed rate against mean predicted risk per bin, with the diagonal of perfect calibration."""
    pts = [(float(b["mean_predicted"]), float(b["observed"])) for b in bins
           if b.get("mean_predicted") is not None and b.get("observed") is not None]
    if not pts:
        return f'<p class="missing">{escape(title)}: no calibration bins in metrics.json.</p>'
    ticks = _ticks(0, max(max(p for p, _ in pts), max(o for _, o in pts), 0.05))
    top = ticks[-1]
    w, h, ml, mt, mb = 400, 300, 48, 30, 40
    s = min(w - ml - 16, h - mt - mb)

    def xy(p: float, o: float) -> tuple[float, float]:
        return ml + p / top * s, mt + s - o / top * s

    parts = [f'<svg class="chart cal" role="img" viewBox="0 0 {w} {h}" xmlns="http://www.w3.org/2000/svg">',
             f"<title>{escape(title)}</title>", f'<text x="{ml}" y="16" class="ct">{escape(title)}</text>',
             f'<line x1="{ml}" y1="{mt + s}" x2="{ml + s}" y2="{mt}" class="diag"/>']
    for t in ticks:
        parts.append(f'<line x1="{ml}" x2="{ml + s}" y1="{xy(0, t)[1]:.1f}" y2="{xy(0, t)[1]:.1f}" class="grid"/>'
                     f'<text x="{ml - 4}" y="{xy(0, t)[1] + 4:.1f}" class="yl">{t * 100:.0f}%</text>'
                     f'<text x="{xy(t, 0)[0]:.1f}" y="{mt + s + 14}" class="xl">{t * 100:.0f}%</text>')
    parts.append(f'<line x1="{ml}" y1="{mt + s}" x2="{ml + s}" y2="{mt + s}" class="axis"/>'
                 f'<line x1="{ml}" y1="{mt}" x2="{ml}" y2="{mt + s}" class="axis"/>')
    poly = " ".join(f"{xy(p, o)[0]:.1f},{xy(p, o)[1]:.1f}" for p, o in pts)
    parts.append(f'<polyline points="{poly}" fill="none" stroke="{PALETTE[0]}" stroke-width="2"/>')
    parts += [f'<circle cx="{xy(p, o)[0]:.1f}" cy="{xy(p, o)[1]:.1f}" r="3" fill="{PALETTE[0]}"/>' for p, o in pts]
    parts.append(f'<text x="{ml + s / 2}" y="{h - 6}" class="xl">mean predicted risk</text>'
                 f'<text x="12" y="{mt + s / 2}" class="xl" transform="rotate(-90 12 {mt + s / 2})">observed rate</text>'
                 "</svg>")
    return "".join(parts)


def bar_chart(title: str, labels: Sequence[str], values: Sequence[float], reference: float | None = None) -> str:
    """Vertical bars (e.g. lift by risk decile) with an optional reference line (lift 1)."""
    if not values:
        return f'<p class="missing">{escape(title)}: no data.</p>'
    top = _ticks(0, max(max(values), reference or 0))[-1]
    pw, ph = W - ML - MR, H - MT - MB
    bw = pw / len(values)
    parts = [f'<svg class="chart" role="img" viewBox="0 0 {W} {H}" xmlns="http://www.w3.org/2000/svg">',
             f"<title>{escape(title)}</title>", f'<text x="{ML}" y="16" class="ct">{escape(title)}</text>']
    for t in _ticks(0, top):
        yy = MT + ph - t / top * ph
        parts.append(f'<line x1="{ML}" x2="{W - MR}" y1="{yy:.1f}" y2="{yy:.1f}" class="grid"/>'
                     f'<text x="{ML - 6}" y="{yy + 4:.1f}" class="yl">{t:.1f}</text>')
    for i, (lab, v) in enumerate(zip(labels, values, strict=True)):
        hh = v / top * ph
        parts.append(f'<rect x="{ML + i * bw + 3:.1f}" y="{MT + ph - hh:.1f}" width="{bw - 6:.1f}" height="{hh:.1f}" '
                     f'fill="{PALETTE[1]}"/><text x="{ML + (i + 0.5) * bw:.1f}" y="{H - MB + 16}" class="xl">'
                     f"{escape(lab)}</text>")
    if reference is not None:
        yy = MT + ph - reference / top * ph
        parts.append(f'<line x1="{ML}" x2="{W - MR}" y1="{yy:.1f}" y2="{yy:.1f}" class="diag"/>')
    parts.append("</svg>")
    return "".join(parts)


def histogram(title: str, bins: Sequence[tuple[float, float]], shares: Sequence[float], colour: str = PALETTE[0],
              x_label: str = "", top: float | None = None) -> str:
    """A small histogram: one bar per bin (``bins`` as (low, high) edges, ``shares`` their heights as
    proportions). ``top`` fixes the y-axis maximum so two histograms side by side share a scale."""
    if not bins or not shares or sum(shares) == 0:
        return f'<p class="missing">{escape(title)}: no data.</p>'
    w, h, ml, mr, mt, mb = 300, 170, 40, 10, 26, 34
    pw, ph = w - ml - mr, h - mt - mb
    lo, hi = min(b[0] for b in bins), max(b[1] for b in bins)
    span = (hi - lo) or 1.0
    ticks = _ticks(0, top if top is not None else max(shares), 3)
    ymax = ticks[-1]

    def x(v: float) -> float:
        return ml + (v - lo) / span * pw

    parts = [f'<svg class="chart hist" role="img" viewBox="0 0 {w} {h}" xmlns="http://www.w3.org/2000/svg">',
             f"<title>{escape(title)}</title>", f'<text x="{ml}" y="16" class="ct">{escape(title)}</text>']
    for t in ticks:
        yy = mt + ph - t / ymax * ph
        parts.append(f'<line x1="{ml}" x2="{w - mr}" y1="{yy:.1f}" y2="{yy:.1f}" class="grid"/>'
                     f'<text x="{ml - 4}" y="{yy + 4:.1f}" class="yl">{t * 100:.0f}%</text>')
    for (b_lo, b_hi), share in zip(bins, shares, strict=True):
        hh = share / ymax * ph
        parts.append(f'<rect x="{x(b_lo) + 0.5:.1f}" y="{mt + ph - hh:.1f}" width="{max(x(b_hi) - x(b_lo) - 1, 0.5):.1f}" '
                     f'height="{hh:.1f}" fill="{colour}"><title>{b_lo:.2f}-{b_hi:.2f}: {share * 100:.1f}%</title></rect>')
    for v in (lo, (lo + hi) / 2, hi):
        parts.append(f'<text x="{x(v):.1f}" y="{mt + ph + 13}" class="xl">{v:.2g}</text>')
    parts.append(f'<line x1="{ml}" y1="{mt + ph}" x2="{w - mr}" y2="{mt + ph}" class="axis"/>')
    if x_label:
        parts.append(f'<text x="{ml + pw / 2}" y="{h - 4}" class="xl">{escape(x_label)}</text>')
    parts.append("</svg>")
    return "".join(parts)
