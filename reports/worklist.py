"""The case-manager view of the intake list: an Excel workbook (the full list plus one sheet per
case manager, with filters on) and one HTML worklist per case manager, readable on a laptop."""

from __future__ import annotations

import datetime as dt
import re
from html import escape
from pathlib import Path

import polars as pl
import xlsxwriter

from reports.html import page

ALL_SHEET = "All members"
HEADERS = {
    "rank": "Rank", "person_id": "Member ID", "score": "Risk score", "score_basis": "Score basis",
    "score_percentile": "Percentile",
    "risk_tier": "Risk tier", "rising_risk_flag": "Rising risk", "reason_1": "Reason 1", "reason_2": "Reason 2",
    "reason_3": "Reason 3", "benefit": "Expected benefit (fewer readmissions per 100)",
    "benefit_reason_1": "Benefit reason 1", "benefit_reason_2": "Benefit reason 2", "rank_basis": "Ranked by",
    "latest_discharge_date": "Last discharge", "days_since_discharge": "Days since discharge",
    "open_care_gaps": "Open care gaps", "suggested_program": "Suggested program",
    "suggested_case_manager_id": "Case manager", "suggested_team": "Team", "contact_by_date": "Contact by",
}
WIDTHS = {"score_basis": 30, "reason_1": 44, "reason_2": 44, "reason_3": 44, "benefit_reason_1": 44,
          "benefit_reason_2": 44, "rank_basis": 30, "open_care_gaps": 40, "suggested_program": 24}


def _sheet_name(name: str, used: set[str]) -> str:
    """Excel sheet names: at most 31 characters, none of []:*?/\\, unique."""
    base = re.sub(r"[\[\]:*?/\\]", "_", name)[:31] or "sheet"
    candidate, i = base, 2
    while candidate.lower() in used:
        candidate = f"{base[:28]}-{i}"
        i += 1
    used.add(candidate.lower())
    return candidate


def _for_people(intake: pl.DataFrame) -> pl.DataFrame:
    """The intake columns a case manager reads, with readable headers and 'yes' for rising risk."""
    return intake.select([c for c in HEADERS if c in intake.columns]).with_columns(
        pl.when(pl.col("rising_risk_flag") == 1).then(pl.lit("yes")).otherwise(pl.lit("")).alias("rising_risk_flag"),
        *([(pl.col("benefit") * 100).round(1).alias("benefit")] if "benefit" in intake.columns else []),
    ).rename({c: HEADERS[c] for c in HEADERS if c in intake.columns})


def write_intake_workbook(intake: pl.DataFrame, path: Path, as_of: dt.date) -> Path:
    """One ``xlsxwriter.Workbook``: the full list first, then one sheet per suggested case manager;
    every sheet has a header row, autofilter (sort and filter) and frozen panes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    people = _for_people(intake)
    used: set[str] = set()
    with xlsxwriter.Workbook(str(path)) as wb:
        sheets = [(ALL_SHEET, people)]
        if "suggested_case_manager_id" in intake.columns:
            for cm in sorted(intake["suggested_case_manager_id"].drop_nulls().unique().to_list()):
                sheets.append((cm, people.filter(pl.col(HEADERS["suggested_case_manager_id"]) == cm)))
        for name, frame in sheets:
            widths = {HEADERS[c]: w for c, w in WIDTHS.items()}
            frame.write_excel(
                workbook=wb, worksheet=_sheet_name(name, used), autofilter=True, freeze_panes=(1, 0),
                column_widths=widths, dtype_formats={pl.Date: "yyyy-mm-dd"}, float_precision=3,
                autofit=False, table_style=None,
            )
        wb.set_properties({"title": f"Intake list as of {as_of.isoformat()}", "subject": "riskstrat intake list"})
    return path


def _score_text(row: dict) -> str:
    """The score as a case manager should read it: a probability only when a model gave one."""
    if row.get("score") is None:
        return escape(row.get("score_basis") or "a rank, not a probability")
    return f"score {row['score']:.2f}"


def render_worklist(intake: pl.DataFrame, case_manager_id: str, as_of: dt.date) -> str:
    rows = intake.filter(pl.col("suggested_case_manager_id") == case_manager_id).sort("rank")
    program = rows["suggested_program"][0] if rows.height else ""
    cards = []
    for r in rows.iter_rows(named=True):
        reasons = "".join(f"<li>{escape(r[k])}</li>" for k in ("reason_1", "reason_2", "reason_3") if r.get(k))
        benefit = "".join(f"<li>{escape(r[k])}</li>" for k in ("benefit_reason_1", "benefit_reason_2") if r.get(k))
        if r.get("benefit") is not None:
            benefit = (f"<span class=\"small\">about {100 * r['benefit']:.1f} fewer readmissions per 100 members "
                       f"like this one if enrolled (estimate)</span><ul>{benefit}</ul>")
        elif benefit:
            benefit = f"<ul>{benefit}</ul>"
        rising = ' <span class="tag rising">rising risk</span>' if r.get("rising_risk_flag") else ""
        discharge = (f"last discharge {r['latest_discharge_date'].isoformat()} ({r['days_since_discharge']} days ago)"
                     if r.get("latest_discharge_date") else "no recent discharge")
        gaps = escape(r["open_care_gaps"]) if r.get("open_care_gaps") else "none"
        cards.append(
            "<tr>"
            f"<td class=\"n\">{r['rank']}</td>"
            f"<td><b>{escape(r['person_id'])}</b><br><span class=\"tag {escape(r['risk_tier'])}\">"
            f"{escape(r['risk_tier'].replace('_', ' '))}</span>{rising}<br>"
            f"<span class=\"small\">{_score_text(r)} · {r['score_percentile']:.0f}th percentile</span></td>"
            f"<td><ul>{reasons}</ul></td>"
            f"<td>{benefit}</td>"
            f"<td>{escape(discharge)}<br><span class=\"small\">care gaps: {gaps}</span></td>"
            f"<td class=\"nw\"><b>{r['contact_by_date'].isoformat()}</b></td>"
            "</tr>"
        )
    head = ("<tr><th>#</th><th>Member</th><th>Why now (top reasons)</th><th>Why enrolling may help</th>"
            "<th>Discharge and care gaps</th><th>Contact by</th></tr>")
    body = (f"<section><h2>{rows.height} members to contact</h2>"
            f"<table><thead>{head}</thead><tbody>{''.join(cards)}</tbody></table></section>"
            if rows.height else "<section><p>No members suggested for you on this list.</p></section>")
    return page(f"Worklist: {case_manager_id}", f"{program.replace('_', ' ')} · intake list as of {as_of.isoformat()}", body)


def write_worklists(intake: pl.DataFrame, out_dir: Path, as_of: dt.date) -> list[Path]:
    """One ``worklist_<case manager>.html`` per suggested case manager in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for cm in sorted(intake["suggested_case_manager_id"].drop_nulls().unique().to_list()):
        path = out_dir / f"worklist_{re.sub(r'[^A-Za-z0-9_.-]', '_', cm)}.html"
        path.write_text(render_worklist(intake, cm, as_of), encoding="utf-8")
        paths.append(path)
    return paths
