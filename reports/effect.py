"""The report's first section: does case management work?

Reads the frames of ``marts.program_effect`` (one row per outcome x program x method),
``marts.program_effect_balance`` and ``marts.program_effect_overlap`` and writes the headline (the
adjusted effect on 30-day readmission for all programs, in plain words with its interval), the
table of every adjusted and randomised estimate, the balance and overlap diagnostics, the power
line of the evaluation lottery, and, lower down and labelled as such, the descriptive comparisons
(enrolled vs not, before vs after) that are not effects.

Risk differences are enrolled minus not enrolled: a negative estimate means fewer events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

import polars as pl

from models.intake import lottery_rounds, lottery_sample_size
from reports.html import missing, table
from reports.svg import PALETTE, histogram

ADJUSTED, RANDOMISED = "aipw", "lottery_itt"
DESCRIPTIVE_METHODS = ("naive", "pre_post")
DESCRIPTIVE_LABEL = "descriptive, not an effect"
HEADLINE_OUTCOME, OVERALL = "readmit_30d", "all"
SMD_FLAG = 0.1
POWER, ALPHA = 0.8, 0.05
DEFAULT_REDUCTION = 0.03  # 3 points of 30-day readmission when no adjusted reduction is estimated
POWER_TABLE_REDUCTIONS = (0.02, 0.03, 0.05)
HYPOTHETICAL_FRACTION = 0.1  # the band the power line assumes before any lottery has run

OUTCOME_TITLES = {
    "readmit_30d": "30-day readmission", "readmit_180d": "180-day readmission",
    "admissions_6m": "admissions, next 6 months", "admissions_12m": "admissions, next 12 months",
    "ed_visits_6m": "ED visits, next 6 months", "ed_visits_12m": "ED visits, next 12 months",
    "paid_6m": "paid cost, next 6 months", "paid_12m": "paid cost, next 12 months",
    # the lottery's outcomes, counted from the offer (assignment) date
    "any_admission_180d": "any admission within 180 days of the offer",
    "admissions_180d": "admissions within 180 days of the offer",
}
# which lottery row the card beside the headline shows first
LOTTERY_CARD_ORDER = ("readmit_30d", "any_admission_180d", "readmit_180d", "admissions_180d")
OUTCOME_ORDER = {name: i for i, name in enumerate(OUTCOME_TITLES)}


def outcome_title(outcome: str) -> str:
    """The outcome in words: the known ones by name, others (a lottery's, say ``admissions_180d``)
    with underscores as spaces and ``180d`` as ``180 days``."""
    if outcome in OUTCOME_TITLES:
        return OUTCOME_TITLES[outcome]
    words = [f"{w[:-1]} days" if w[:-1].isdigit() and w.endswith("d") else w for w in outcome.split("_")]
    return " ".join(words).replace("ed visits", "ED visits")
METHOD_TITLES = {ADJUSTED: "adjusted (AIPW)", RANDOMISED: "randomised (lottery)",
                 "naive": "enrolled vs not, unadjusted", "pre_post": "enrolled members, before vs after"}
STATUS_WORDS = {
    "suppressed_small_cell": "Suppressed: fewer than 30 enrolled members in this group.",
    "withheld_no_overlap": "Withheld: enrolled members have no comparable members outside the program.",
    "not_estimable": "Not estimable from this data.",
}
WHY_DESCRIPTIVE = (
    "These comparisons are descriptive, not effects: members are enrolled because they are at high risk "
    "(selection on risk), and members picked after a spike in hospital use tend to use less afterwards "
    "whatever is done (regression to the mean). In the Camden Coalition hotspotting trial, enrolled "
    "patients' admissions fell 38 points from before to after enrolment, yet the randomised comparison "
    "found no effect (62.3% vs 61.7% readmitted within 180 days; Finkelstein et al., NEJM 2020)."
)
GLOSSES = (
    "<b>Adjusted effect on the enrolled (ATT)</b>: the average change enrolment made for the members who "
    "were enrolled, estimated by comparing them with members not enrolled who looked alike at discharge "
    "(risk scores, prior use, conditions, social needs, demographics). AIPW (doubly robust) combines a model "
    "of who gets enrolled with a model of the outcome and stays right if either one is.",
    "<b>E-value</b>: how strongly a factor missing from the data would have to be tied to both enrolment and "
    "the outcome (as a risk ratio) to explain the estimate away; close to 1 means a weak hidden factor would "
    "do. The second figure is for the interval's end nearest no effect.",
    "The adjusted estimate assumes that whatever drove both enrolment and the outcome is in the data. A "
    "lottery at the intake list's cut (<code>riskstrat run --evaluation-lottery</code>) needs no such "
    "assumption: within the band, offers are decided by chance.",
)


@dataclass(frozen=True)
class LotteryContext:
    """What the power line needs besides the effect table: the band size of the latest lottery round
    (None before any), the list's open slots (for a band to suggest) and the share of offered
    members who engage (None when unknown)."""

    band_size: int | None = None
    open_slots: int | None = None
    uptake: float | None = None


def _kind(outcome: str, unit: str | None) -> str:
    """How an outcome's difference is shown: 'risk' (per 100), 'rate' (per 1,000 member-months),
    'money' ($ per member-month) or 'count' (events per 100 members)."""
    unit = (unit or "").lower()
    if outcome.startswith("paid") or "$" in unit or "dollar" in unit or "cost" in unit:
        return "money"
    if outcome.startswith("readmit") or "risk" in unit or "proportion" in unit or "probability" in unit:
        return "risk"
    if "member-month" in unit or "member month" in unit or outcome.endswith(("_6m", "_12m")):
        return "rate"
    return "count"


def _noun(outcome: str) -> str:
    if outcome.startswith("readmit"):
        return "readmissions"
    if outcome.startswith("ed_visit"):
        return "ED visits"
    return "admissions"


def _num(value: float) -> str:
    value = abs(value)
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def display_scale(outcome: str, unit: str | None) -> tuple[float, str]:
    """(multiplier, unit words) that turn a stored difference or mean into the figure shown."""
    kind = _kind(outcome, unit)
    return {"risk": (100.0, "points (per 100)"), "count": (100.0, "per 100 members"),
            "rate": (1000.0, "per 1,000 member-months"), "money": (1.0, "$ per member-month")}[kind]


def plain_effect(outcome: str, estimate: float, ci_low: float, ci_high: float, unit: str | None = None,
                 who: str = "enrolled") -> tuple[str, str]:
    """(the effect in plain words, its 95% interval in words) for one estimate, enrolled (``who``)
    minus not: "about 3.4 readmissions avoided per 100 enrolled" and "95% CI 1.2 to 5.6" when the
    interval excludes 0 on the side of fewer events, "about 2.0 more ..." when it excludes 0 on the
    other side, "no detectable effect" when it covers 0."""
    kind = _kind(outcome, unit)
    scale, _ = display_scale(outcome, unit)
    est, lo, hi = estimate * scale, ci_low * scale, ci_high * scale
    noun = _noun(outcome)
    if kind == "money":
        less, more = "less paid per member-month", "more paid per member-month"
        if hi < 0:
            return f"about ${_num(est)} {less}", f"95% CI ${_num(hi)} to ${_num(lo)} less"
        if lo > 0:
            return f"about ${_num(est)} {more}", f"95% CI ${_num(lo)} to ${_num(hi)} more"
        return "no detectable effect on paid cost", f"95% CI from ${_num(lo)} less to ${_num(hi)} more per member-month"
    per = f"per 100 {who}" if kind in ("risk", "count") else "per 1,000 member-months"
    if hi < 0:
        verb = "avoided" if kind in ("risk", "count") else "fewer"
        words = f"about {_num(est)} {noun} avoided {per}" if verb == "avoided" else f"about {_num(est)} fewer {noun} {per}"
        return words, f"95% CI {_num(hi)} to {_num(lo)}"
    if lo > 0:
        return f"about {_num(est)} more {noun} {per}", f"95% CI {_num(lo)} to {_num(hi)}"
    return "no detectable effect", f"95% CI from {_num(lo)} fewer to {_num(hi)} more {noun} {per}"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not math.isnan(value)


def _reported(row: dict) -> bool:
    return row.get("status") == "reported" and all(_is_number(row.get(c)) for c in ("estimate", "ci_low", "ci_high"))


def _note(row: dict) -> str:
    return row.get("note") or STATUS_WORDS.get(row.get("status") or "", "No estimate.")


def _pick(effect: pl.DataFrame, method: str, outcome: str | None = HEADLINE_OUTCOME,
          program: str = OVERALL) -> dict | None:
    rows = effect.filter((pl.col("method") == method) & (pl.col("program") == program)
                         & (pl.lit(True) if outcome is None else pl.col("outcome") == outcome))
    return rows.row(0, named=True) if rows.height else None


def _e_values(row: dict) -> str:
    if not _is_number(row.get("e_value")):
        return ""
    text = f"E-value {row['e_value']:.2f}"
    return text + (f" ({row['e_value_ci']:.2f} for the interval)" if _is_number(row.get("e_value_ci")) else "")


def _counts(row: dict, treated: str, control: str) -> str:
    parts = []
    if _is_number(row.get("n_treated")):
        parts.append(f"{int(row['n_treated']):,} {treated}")
    if _is_number(row.get("n_control")):
        parts.append(f"{int(row['n_control']):,} {control}")
    return " vs ".join(parts)


def _headline_card(row: dict | None) -> str:
    what = "Effect of case management on 30-day readmission, all programs (adjusted, on the enrolled)"
    if row is None:
        return ('<div class="effect withheld" id="headline-effect">'
                f"<span>{escape(what)}</span><b>No adjusted estimate of 30-day readmission for all programs "
                "in marts.program_effect.</b></div>")
    if not _reported(row):
        return ('<div class="effect withheld" id="headline-effect">'
                f"<span>{escape(what)}</span><b>{escape(_note(row))}</b>"
                f"<span>{escape(_counts(row, 'enrolled stays', 'not enrolled'))}</span></div>")
    words, ci = plain_effect(row["outcome"], row["estimate"], row["ci_low"], row["ci_high"], row.get("unit"))
    detail = "; ".join(p for p in (_counts(row, "enrolled stays", "not enrolled"), _e_values(row)) if p)
    caution = ""
    if _is_number(row.get("max_smd_after")) and row["max_smd_after"] > SMD_FLAG:
        caution = (f'<span class="caution">Caution: after weighting, enrolled and not-enrolled stays still differ '
                   f"by up to {row['max_smd_after']:.2f} SD in a characteristic (above {SMD_FLAG}); the comparison "
                   "is not like for like yet (balance below).</span>")
    return ('<div class="effect" id="headline-effect">'
            f"<span>{escape(what)}</span><b>{escape(words)}</b><span class=\"ci\">({escape(ci)})</span>"
            f"<span>{escape(detail)}</span>{caution}</div>")


def _lottery_card(effect: pl.DataFrame) -> str:
    rows = effect.filter(pl.col("method") == RANDOMISED)
    if rows.height == 0:
        return ""
    # overall, reported, and the first outcome of LOTTERY_CARD_ORDER present
    order = {name: i for i, name in enumerate(LOTTERY_CARD_ORDER)}
    rows = rows.sort([pl.col("program") != OVERALL, pl.col("status") != "reported",
                      pl.col("outcome").replace_strict(order, default=len(order), return_dtype=pl.Int64)],
                     maintain_order=True)
    row = rows.row(0, named=True)
    title = f"Randomised at the intake cut (lottery band): {outcome_title(row['outcome'])}"
    if not _reported(row):
        return (f'<div class="effect randomised withheld" id="lottery-effect"><span>{escape(title)}</span>'
                f"<b>{escape(_note(row))}</b></div>")
    words, ci = plain_effect(row["outcome"], row["estimate"], row["ci_low"], row["ci_high"], row.get("unit"), who="offered")
    observational = _pick(effect, ADJUSTED, row["outcome"], row["program"])
    beside = ""
    if observational is not None and _reported(observational):
        o_words, o_ci = plain_effect(observational["outcome"], observational["estimate"], observational["ci_low"],
                                     observational["ci_high"], observational.get("unit"))
        beside = f"<span>Observational (adjusted) on the same outcome: {escape(o_words)} ({escape(o_ci)}).</span>"
    return (f'<div class="effect randomised" id="lottery-effect"><span>{escape(title)}</span><b>{escape(words)}</b>'
            f'<span class="ci">({escape(ci)})</span><span>{escape(_counts(row, "offered", "not offered"))}; '
            f'offered minus not offered, whoever enrolled (intention to treat)</span>{beside}</div>')


def _program_name(program: str, names: dict[str, str]) -> str:
    return "all programs" if program == OVERALL else names.get(program, program)


def _estimate_table(effect: pl.DataFrame, methods: tuple[str, ...], names: dict[str, str], label: str | None,
                    overall: bool | None = None) -> str:
    """One row per estimate of ``methods`` (only program 'all' when ``overall`` is True, only the
    programs when False); a row without a figure shows why in its note."""
    rows = effect.filter(pl.col("method").is_in(methods))
    if overall is not None:
        rows = rows.filter((pl.col("program") == OVERALL) == overall)
    rows = rows.with_columns(
        pl.col("outcome").replace_strict(OUTCOME_ORDER, default=len(OUTCOME_ORDER), return_dtype=pl.Int64).alias("_o"),
        (pl.col("program") != OVERALL).alias("_p"),
    ).sort(["_o", "outcome", "_p", "program", "method"])
    out = []
    for row in rows.iter_rows(named=True):
        scale, unit = display_scale(row["outcome"], row.get("unit"))
        ok = _reported(row)
        record = {
            **({"label": label} if label else {}),
            "outcome": outcome_title(row["outcome"]),
            "program": _program_name(row["program"], names),
            "method": METHOD_TITLES.get(row["method"], row["method"]),
        }
        if label:
            record |= {
                "enrolled (after)": f"{row['treated_mean'] * scale:,.1f}" if _is_number(row.get("treated_mean")) else "",
                "not enrolled (before)": f"{row['control_mean'] * scale:,.1f}" if _is_number(row.get("control_mean"))
                else "",
            }
        record |= {
            "difference": f"{row['estimate'] * scale:+,.1f}" if ok else "–",
            "95% CI": f"{row['ci_low'] * scale:+,.1f} to {row['ci_high'] * scale:+,.1f}" if ok else "–",
            "unit": unit,
            "n enrolled": int(row["n_treated"]) if _is_number(row.get("n_treated")) else None,
            "n comparison": int(row["n_control"]) if _is_number(row.get("n_control")) else None,
        }
        if not label:
            record |= {
                "E-value (CI)": (f"{row['e_value']:.2f} ({row['e_value_ci']:.2f})"
                                 if ok and _is_number(row.get("e_value")) and _is_number(row.get("e_value_ci"))
                                 else (f"{row['e_value']:.2f}" if ok and _is_number(row.get("e_value")) else "–")),
                "max SMD after": row["max_smd_after"] if _is_number(row.get("max_smd_after")) else None,
            }
        record["note"] = "" if ok else _note(row)
        out.append(record)
    if not out:
        return ""
    frame = pl.DataFrame(out, infer_schema_length=None)
    return table(frame.drop("note") if (frame["note"] == "").all() else frame)


def _balance(balance: pl.DataFrame | None) -> str:
    if balance is None or balance.height == 0:
        return missing("Covariate balance: marts.program_effect_balance is not built or empty.")
    part = balance.filter((pl.col("outcome") == HEADLINE_OUTCOME) & (pl.col("program") == OVERALL))
    if part.height == 0:
        first = balance.row(0, named=True)
        part = balance.filter((pl.col("outcome") == first["outcome"]) & (pl.col("program") == first["program"]))
    outcome, program = part["outcome"][0], part["program"][0]
    before = int((part["smd_before"].abs() > SMD_FLAG).sum())
    after = int((part["smd_after"].abs() > SMD_FLAG).sum())
    shown = (part.sort(pl.col("smd_before").abs(), descending=True, nulls_last=True).head(12)
             .select("covariate", "smd_before", "smd_after",
                     pl.when(pl.col("smd_after").abs() > SMD_FLAG).then(pl.lit("above 0.1 after weighting"))
                     .when(pl.col("smd_before").abs() > SMD_FLAG).then(pl.lit("balanced by weighting"))
                     .otherwise(pl.lit("")).alias("flag")))
    text = (f"<p>{escape(outcome_title(outcome))}, {escape(_program_name(program, {}))}: {before} of "
            f"{part.height} characteristics differed between enrolled and not enrolled by more than {SMD_FLAG} "
            f"SD before weighting, {after} after. The twelve largest differences:</p>")
    gloss = ('<p class="gloss"><b>SMD</b> (standardised mean difference): the gap between enrolled and not '
             "enrolled members in one characteristic, in standard deviations; above 0.1 counts as imbalanced. "
             "Weighting should bring every characteristic below 0.1.</p>")
    return text + table(shown, headers={"smd_before": "SMD before", "smd_after": "SMD after"}) + gloss


def _overlap(overlap: pl.DataFrame | None, headline: dict | None) -> str:
    if overlap is None or overlap.height == 0:
        return missing("Propensity overlap: marts.program_effect_overlap is not built or empty.")
    part = overlap.filter(pl.col("program") == OVERALL)
    if part.height == 0:
        part = overlap.filter(pl.col("program") == overlap["program"][0])
    part = part.with_columns((pl.col("stays") / pl.col("stays").sum().over("arm")).fill_nan(0.0).alias("share"))
    top = float(part["share"].max() or 0.0)
    charts = []
    for arm, colour in (("enrolled", PALETTE[0]), ("not_enrolled", PALETTE[1])):
        rows = part.filter(pl.col("arm") == arm).sort("bin_low")
        charts.append(histogram(f"{arm.replace('_', ' ')} ({int(rows['stays'].sum()):,} stays)",
                                list(zip(rows["bin_low"].to_list(), rows["bin_high"].to_list(), strict=True)),
                                rows["share"].to_list(), colour, "propensity of enrolment", top))
    share = ""
    if headline is not None and _is_number(headline.get("overlap_share")):
        share = f" Overlap share for the headline estimate: {headline['overlap_share'] * 100:.0f}%."
    return (f'<div class="cards">{"".join(f"<div>{c}</div>" for c in charts)}</div>'
            '<p class="gloss"><b>Propensity</b>: the chance of being enrolled given what was known at discharge. '
            "An adjusted comparison needs not-enrolled members at the propensities where enrolled members are; "
            "where the enrolled histogram has stays and the other has none, nobody comparable exists, and such "
            f"an estimate is withheld rather than printed.{escape(share)}</p>")


def power_line(control_rate: float, reduction: float, lottery: LotteryContext) -> str:
    """The sentence: members per arm to detect ``reduction`` from ``control_rate`` (80% power, 5%
    two-sided) and the rounds that takes at the lottery's band size."""
    n = lottery_sample_size(control_rate, reduction, POWER, ALPHA)
    text = (f"To detect a reduction of {reduction * 100:.1f} points in 30-day readmission (from the control rate "
            f"of {control_rate * 100:.1f}%) with {POWER:.0%} power at {ALPHA:.0%} two-sided, the lottery needs about "
            f"{n:,} members per arm")
    band = lottery.band_size
    if band is not None and band >= 2:
        text += f", i.e. about {lottery_rounds(n, band):,} rounds at this band size ({band} members per round)."
    elif lottery.open_slots:
        suggested = round(HYPOTHETICAL_FRACTION * lottery.open_slots)
        if suggested >= 2:
            text += (f"; no lottery has run yet: with --evaluation-lottery {HYPOTHETICAL_FRACTION} this run's "
                     f"{lottery.open_slots} open slots give a band of {suggested}, i.e. about "
                     f"{lottery_rounds(n, suggested):,} rounds.")
        else:
            text += "; this run's open slots are too few for a band of two."
    else:
        text += "; no lottery has run yet, so the rounds depend on the band chosen."
    return text


def _power(effect: pl.DataFrame, headline: dict | None, lottery: LotteryContext) -> str:
    control = None
    for row in (headline, _pick(effect, "naive")):
        if row is not None and _is_number(row.get("control_mean")) and 0 < row["control_mean"] < 1:
            control = float(row["control_mean"])
            break
    if control is None:
        return missing("Power of a lottery: needs the 30-day readmission rate of members not enrolled "
                       "(control_mean in marts.program_effect).")
    reduction, why = DEFAULT_REDUCTION, "3 points, a round figure: the adjusted estimate shows no reduction to aim at"
    if headline is not None and _reported(headline) and headline["estimate"] < 0:
        reduction, why = -headline["estimate"], "the reduction the adjusted estimate suggests"
    reduction = min(reduction, control * 0.9)
    out = [f"<p><b>{escape(power_line(control, reduction, lottery))}</b> ({escape(why)}.)</p>"]
    rows = []
    for x in sorted({*POWER_TABLE_REDUCTIONS, round(reduction, 4)}):
        if 0 < x < control:
            n = lottery_sample_size(control, x, POWER, ALPHA)
            rows.append({"reduction (points)": f"{x * 100:.1f}", "members per arm": n,
                         "rounds at this band": lottery_rounds(n, lottery.band_size)
                         if lottery.band_size and lottery.band_size >= 2 else None})
    if rows:
        out.append(table(pl.DataFrame(rows, infer_schema_length=None)))
    if lottery.uptake is not None and 0 < lottery.uptake < 1:
        diluted = lottery_sample_size(control, reduction * lottery.uptake, POWER, ALPHA)
        out.append(f"<p>Not everyone offered enrols: with the engagement rate of the last 12 months "
                   f"({lottery.uptake * 100:.0f}%), the offered-vs-not difference shrinks to about "
                   f"{reduction * lottery.uptake * 100:.1f} points, and the lottery needs about {diluted:,} members "
                   "per arm to see it.</p>")
    return "".join(out)


def render_effect_section(effect: pl.DataFrame | None, balance: pl.DataFrame | None, overlap: pl.DataFrame | None,
                          descriptive_cards: str = "", lottery: LotteryContext = LotteryContext(),
                          program_names: dict[str, str] | None = None) -> str:
    """The section's HTML. ``descriptive_cards``: the KPI mart's in/out-of-program cards, shown
    under the descriptive comparisons."""
    names = program_names or {}
    descriptive_block = (f'<div class="descriptive" id="descriptive"><h3>Descriptive comparisons '
                         f'<span class="label">{escape(DESCRIPTIVE_LABEL)}</span></h3><p>{escape(WHY_DESCRIPTIVE)}</p>')
    if effect is None or effect.height == 0:
        out = [missing("Program effect not estimated yet: marts.program_effect is not built (the program_effect "
                       "step estimates it from index discharges and case-management cases).")]
        if descriptive_cards:
            out.append(descriptive_block + descriptive_cards + "</div>")
        return "".join(out)
    headline = _pick(effect, ADJUSTED)
    out = [f'<div class="cards">{_headline_card(headline)}{_lottery_card(effect)}</div>',
           "".join(f'<p class="gloss">{g}</p>' for g in GLOSSES)]
    if headline is not None and _reported(headline) and headline.get("note"):
        out.append(f'<p class="gloss">How the headline was estimated: {escape(headline["note"])}.</p>')
    estimates = _estimate_table(effect, (ADJUSTED, RANDOMISED), names, None, overall=True)
    by_program = _estimate_table(effect, (ADJUSTED, RANDOMISED), names, None, overall=False)
    out.append("<h3>Every outcome, all programs (adjusted and randomised)</h3>"
               "<p>Difference = enrolled minus not enrolled (offered minus not offered for the lottery); negative "
               "means fewer events or less cost.</p>" + (estimates or missing("No adjusted or randomised rows.")))
    if by_program:
        out.append(f"<details><summary>By program</summary>{by_program}</details>")
    out.append("<h3>Balance after weighting</h3>" + _balance(balance))
    out.append("<h3>Overlap of enrolled and not-enrolled members</h3>" + _overlap(overlap, headline))
    out.append("<h3>How long a lottery would take</h3>" + _power(effect, headline, lottery))
    descriptive = _estimate_table(effect, DESCRIPTIVE_METHODS, names, DESCRIPTIVE_LABEL, overall=True)
    descriptive_by_program = _estimate_table(effect, DESCRIPTIVE_METHODS, names, DESCRIPTIVE_LABEL, overall=False)
    if descriptive_by_program:
        descriptive += f"<details><summary>By program</summary>{descriptive_by_program}</details>"
    out.append(descriptive_block + (descriptive or missing("No descriptive rows in marts.program_effect."))
               + descriptive_cards + "</div>")
    return "".join(out)
