"""The contracts rendered as a data dictionary people can read."""

from __future__ import annotations

from data_contracts.ingest import BREACH_MIN_ROWS
from data_contracts.spec import EXTRACTS, ColumnSpec, load_contract


def _rule_text(col: ColumnSpec) -> str:
    parts = []
    if col.required and col.blank_allowed_when:
        when = " and ".join(f"`{c}` matches `{rx}`" for c, rx in col.blank_allowed_when)
        parts.append(f"required, except blank where {when}")
    elif col.required:
        parts.append("required")
    if col.required_with:
        parts.append("required when " + " or ".join(f"`{c}`" for c in col.required_with) + " holds a value")
    if col.max_blank_share is not None:
        parts.append(f"warns when over {col.max_blank_share:.0%} blank")
    if col.allowed is not None:
        parts.append("one of " + ", ".join(f"`{v}`" for v in col.allowed))
    if col.pattern:
        parts.append(f"matches `{col.pattern}`")
    if col.min is not None:
        parts.append(f"≥ {col.min}")
    if col.max is not None:
        parts.append(f"≤ {col.max}")
    if col.not_in_future:
        parts.append("not after the data-through date")
    return "; ".join(parts).replace("|", "\\|")


def render_data_dictionary() -> str:
    lines = [
        "# Data dictionary",
        "",
        "Generated from `data_contracts/contracts/*.yaml` by `riskstrat contracts`; do not edit by hand.",
        "A row that breaks any rule is quarantined in `quarantine.<extract>` with the rule and reason;",
        "a file whose quarantined share passes the extract's threshold stops the run.",
        "",
    ]
    for name in EXTRACTS:
        c = load_contract(name)
        lines += [
            f"## `{c.extract}`",
            "",
            c.description,
            "",
            f"- Grain: {c.grain}; primary key ({', '.join(c.primary_key)}) must be unique.",
            f"- Breach threshold: {c.breach_threshold:.0%} of a file's rows (and at least {BREACH_MIN_ROWS} rows); feeds models: {'yes' if c.feeds_models else 'no'}.",
        ]
        if c.date_order:
            lines.append("- Date order: " + "; ".join(f"`{a}` ≤ `{b}`" for a, b in c.date_order) + ".")
        lines += ["", "| column | type | rules | meaning |", "|---|---|---|---|"]
        for col in c.columns:
            lines.append(f"| `{col.name}` | {col.type} | {_rule_text(col)} | {col.description} |")
        lines.append("")
    return "\n".join(lines)
