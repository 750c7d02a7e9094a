"""The report's "Who would benefit" section: the benefit learner's average effect, whether its
differences between members held up out of fold (the BLP loading), the per-quintile doubly robust
effects, the ranking this run used, and what the estimates rest on (models.benefit)."""

from __future__ import annotations

from html import escape

import polars as pl

from reports.html import missing, table

OUTCOME_WORDS = {"readmit_30d": ("30-day readmission", 100, "fewer readmissions per 100 discharges"),
                 "admissions_12m": ("admissions in the next year", 100, "fewer admissions per 100 members a year")}


def _loading_words(row: dict) -> str:
    low, high = row["heterogeneity_loading_ci_low"], row["heterogeneity_loading_ci_high"]
    figures = f"loading {row['heterogeneity_loading']:.2f}, 95% CI {low:.2f} to {high:.2f}"
    if low > 0:
        return (f"The estimated differences between members held up out of fold ({figures}): discharges the model "
                f"expected to benefit more did benefit more in past enrolments; estimates use {row['shrinkage']:.0%} "
                "of the model's spread.")
    return (f"The data do not show which members benefit more ({figures}): out of fold, the estimated "
            f"differences did not predict who benefited, so each estimate is shrunk to {row['shrinkage']:.0%} of the "
            "model's spread" + (" (everyone gets the average, and a benefit ranking orders the list as risk does)."
                                if row["shrinkage"] == 0 else "."))


def _assumption(lottery_band: int | None, check: dict | None = None) -> str:
    if check and check.get("status") != "no_band":
        return (f"<b>Randomised check (the run's own evaluation lottery):</b> {escape(check['sentence'])} Outside the "
                "lottery, the estimates rest on no unmeasured confounding.")
    if lottery_band:
        return (f"A randomised lottery arm exists (latest band: {lottery_band} members). Its offered and not-offered "
                "halves test the program without the assumption below once their outcome windows close (the "
                "lottery card above); the benefit estimates themselves still come from past enrolments and rest on "
                "no unmeasured confounding.")
    return ("<b>No lottery arm:</b> these estimates come from past enrolments and rest on the assumption of no "
            "unmeasured confounding: that whether a member was enrolled at a past discharge depended only on what "
            "the extracts record. Where programs picked members on what a case manager saw and the data do not "
            "hold, the estimates are biased; docs/evaluation.md shows by how much on generated data. An evaluation "
            "lottery (riskstrat run --evaluation-lottery) gives the randomised check.")


def render_benefit_section(model: pl.DataFrame | None, calibration: pl.DataFrame | None,
                           rank_basis: str | None, lottery_band: int | None, check: dict | None = None) -> str:
    """The section's HTML; says what is missing instead of failing."""
    if model is None or model.height == 0:
        return missing("ml.benefit_model not found: no estimate of who would benefit this run.")
    out = [f"<p>This run's intake list is <b>{escape(rank_basis or 'ranked by risk')}</b>. "
           "Each listed discharge also carries its estimated benefit and the reasons for it.</p>"]
    for row in model.iter_rows(named=True):
        title, scale, unit = OUTCOME_WORDS.get(row["outcome"], (row["outcome"], 1, row["unit"]))
        out.append(f"<h3>{escape(title)}</h3>")
        if row["status"] != "estimated":
            out.append(missing(f"Not estimated: {row['note']}"))
            continue
        avg, lo, hi = (row[k] * scale for k in ("average_effect", "average_effect_ci_low", "average_effect_ci_high"))
        out.append(f"<p>Average estimated benefit of enrolling at discharge: <b>{avg:.1f}</b> {escape(unit)} "
                   f"(95% CI {lo:.1f} to {hi:.1f}; negative = more events), from {row['stays']:,} past discharges "
                   f"({row['enrolled_stays']:,} enrolled).</p>")
        out.append(f"<p>{escape(_loading_words(row))}</p>")
        if calibration is not None:
            gates = calibration.filter((pl.col("outcome") == row["outcome"]) & (pl.col("kind") == "gates"))
            if gates.height:
                shown = gates.select(
                    pl.col("term").alias("group of past discharges"), "stays",
                    *[(pl.col(c) * scale).round(1).alias(name) for c, name in (
                        ("mean_estimated", "estimated benefit"), ("estimate", "doubly robust benefit"),
                        ("ci_low", "95% CI low"), ("ci_high", "95% CI high"))])
                out.append(table(shown))
    out.append(f"<p>{_assumption(lottery_band, check)}</p>")
    return "".join(out)
