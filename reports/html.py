"""The page shell and HTML tables shared by the report and the worklists (inline CSS, no scripts)."""

from __future__ import annotations

import datetime as dt
import math
from html import escape

import polars as pl

CSS = """
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d3557;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}header p{margin:4px 0 0;opacity:.85}
main{padding:12px 24px;max-width:1240px}section{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:12px 16px;margin:12px 0}
h2{font-size:17px;margin:4px 0 10px}h3{font-size:15px;margin:12px 0 6px}
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{flex:1 1 150px;border:1px solid #dde1e7;border-radius:6px;padding:8px 10px;background:#fbfcfd}
.card b{display:block;font-size:20px}.card span{color:#5a6472;font-size:12px}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:8px}
svg.chart{width:100%;max-width:560px;height:auto}svg.cal{max-width:400px}svg.hist{max-width:300px}
svg .ct{font-size:13px;font-weight:600;fill:#1d2330}svg .yl{font-size:10px;fill:#5a6472;text-anchor:end}
svg .xl{font-size:10px;fill:#5a6472;text-anchor:middle}svg .lg{font-size:11px;fill:#1d2330}
svg .grid{stroke:#e6e9ee}svg .axis{stroke:#9aa3ad}svg .diag{stroke:#9aa3ad;stroke-dasharray:4 3}svg .band{fill:#2e8b57;opacity:.12}
table{border-collapse:collapse;width:100%;font-size:13px;margin:6px 0}th,td{border-bottom:1px solid #e6e9ee;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#eef1f5;position:sticky;top:0}td.n{text-align:right;font-variant-numeric:tabular-nums}
.missing{color:#8a5a00;background:#fff7e6;border-left:3px solid #e0a100;padding:6px 10px}
.tag{display:inline-block;padding:0 6px;border-radius:8px;font-size:12px;background:#eef1f5}
.very_high{background:#f8d7da}.high{background:#fde8cf}.moderate{background:#fff3cd}.low{background:#e2f0e6}
.rising{background:#d6e4f5;font-weight:600}td.nw{white-space:nowrap}.small{font-size:12px;color:#5a6472}
.effect{border:2px solid #1d3557;border-radius:6px;padding:10px 14px;background:#f3f6fb;flex:2 1 320px}
.effect b{display:block;font-size:22px}.effect .ci{font-size:15px;color:#1d2330}.effect span{color:#5a6472;font-size:12px;display:block}
.effect.randomised{border-color:#2e8b57;background:#f1f8f3;flex:1 1 260px}.effect.withheld b{font-size:16px;color:#8a5a00}
.descriptive{border-left:3px solid #9aa3ad;padding-left:10px}.label{display:inline-block;padding:0 6px;border-radius:8px;font-size:12px;background:#eceff3;color:#5a6472;font-weight:600}
.gloss{font-size:12px;color:#5a6472;margin:4px 0}.effect .caution{color:#8a3b00;font-size:12px;font-weight:600}
details summary{cursor:pointer;color:#1d3557;margin:4px 0}
@media print{body{background:#fff}section{break-inside:avoid}}
"""


def page(title: str, subtitle: str, body: str) -> str:
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{escape(title)}</h1><p>{escape(subtitle)}</p></header><main>{body}</main></body></html>"
    )


def cell(value: object, fmt: str | None = None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "<td class=\"n\">&ndash;</td>"
    if isinstance(value, bool):
        return f"<td>{'yes' if value else 'no'}</td>"
    if isinstance(value, int | float):
        if fmt == "pct":
            text = f"{value * 100:.1f}%"
        elif fmt == "money":
            text = f"${value:,.2f}"
        elif isinstance(value, float):
            text = f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
        else:
            text = f"{value:,}"
        return f"<td class=\"n\">{escape(text)}</td>"
    if isinstance(value, dt.date):
        return f"<td>{value.isoformat()}</td>"
    return f"<td>{escape(str(value))}</td>"


def table(frame: pl.DataFrame, formats: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> str:
    """An HTML table of ``frame``; ``formats`` maps a column to 'pct' or 'money'."""
    formats, headers = formats or {}, headers or {}
    if frame.height == 0:
        return "<p class=\"missing\">No rows.</p>"
    head = "".join(f"<th>{escape(headers.get(c, c.replace('_', ' ')))}</th>" for c in frame.columns)
    rows = "".join(
        "<tr>" + "".join(cell(row[c], formats.get(c)) for c in frame.columns) + "</tr>"
        for row in frame.iter_rows(named=True)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def missing(text: str) -> str:
    return f"<p class=\"missing\">{escape(text)}</p>"
