"""The program-lead report: one self-contained HTML file that opens with whether case management
works (the adjusted effect with its interval, diagnostics and the descriptive comparisons labelled
as such), then KPI trends, model calibration and lift, the fairness table, the last run's data
quality and the KPI definitions.

Each section renders what the warehouse and ``metrics.json`` hold and says what is missing; a
missing table or metric never fails the report.
"""

from __future__ import annotations

import datetime as dt
import json
from html import escape
from pathlib import Path

import duckdb
import polars as pl

from data_contracts.spec import EXTRACTS
from models.metrics import logistic_comparison_text
from models.benefit_eval import lottery_benefit_check
from reports.benefit import render_benefit_section
from reports.effect import DESCRIPTIVE_LABEL, LotteryContext, render_effect_section
from reports.html import missing, page, table
from reports.svg import bar_chart, calibration_chart, line_chart

TREND_MONTHS = 18
PROGRAM_NAMES = {"care_transitions": "care transitions", "complex_care": "complex care",
                 "intensive_case_management": "ICM", "assertive_community_treatment": "ACT", "brokerage": "brokerage"}
TASK_TITLES = {"readmission": "30-day readmission", "high_need": "High need (next 12 months)"}


def _exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                            [schema, name]).fetchone()[0])


def _read(con: duckdb.DuckDBPyConnection, table_name: str, where: str = "") -> pl.DataFrame | None:
    """Rows of a ``marts``/``audit`` table, or None when the table is absent. ``table_name`` and
    ``where`` come from constants in this module, never from input."""
    schema, name = table_name.split(".")
    if not _exists(con, schema, name):
        return None
    return con.execute(f"SELECT * FROM {table_name} {where}").pl()


def _month_label(d: dt.date) -> str:
    return d.strftime("%b %y")


def _trend(frame: pl.DataFrame | None, period: str, value: str, by: str | None, title: str, fmt: str = "pct",
           names: dict[str, str] | None = None) -> str:
    if frame is None or frame.height == 0 or value not in frame.columns:
        return missing(f"{title}: table not built yet.")
    periods = sorted(frame[period].unique().to_list())[-TREND_MONTHS:]
    frame = frame.filter(pl.col(period).is_in(periods))
    incomplete = None
    if "month_complete_flag" in frame.columns:
        # a month is marked when any of its rows says the claims are still arriving
        flags = frame.group_by(period).agg((pl.col("month_complete_flag").min() == 0).alias("runout"))
        lookup_flag = dict(zip(flags[period].to_list(), flags["runout"].to_list(), strict=True))
        incomplete = [bool(lookup_flag.get(p)) for p in periods]
    present = set(frame[by].drop_nulls().unique().to_list()) if by else set()
    # groups named in ``names`` come first, in that order, so a cohort keeps its colour across charts
    groups = ([g for g in (names or {}) if g in present] + sorted(present - set(names or {}))) if by else [None]
    series = {}
    for g in groups:
        part = frame if g is None else frame.filter(pl.col(by) == g)
        lookup = dict(zip(part[period].to_list(), part[value].to_list(), strict=True))
        series[(names or {}).get(g, g) if g is not None else value.replace("_", " ")] = [lookup.get(p) for p in periods]
    chart = line_chart(title, [_month_label(p) for p in periods], series, y_format=fmt, incomplete=incomplete)
    if incomplete and any(incomplete):
        months = ", ".join(_month_label(p) for p, f in zip(periods, incomplete, strict=True) if f)
        chart += (f'<p class="note">Hatched ({escape(months)}): claims for these months (or their 30-day '
                  "follow-up window) are still arriving, so their values will rise; not a real drop.</p>")
    return chart


def _cards(con: duckdb.DuckDBPyConnection, descriptive: bool) -> str:
    """KPI cards. ``descriptive``: the readmission rate and O/E in case management beside comparable
    members (descriptive: members are enrolled because they are at risk); otherwise the process
    cards (7-day follow-up, engagement, documentation)."""
    cards = []

    def add(label: str, value: float | None, fmt: str) -> None:
        if value is None:
            text = "&ndash;"
        elif fmt == "pct":
            text = f"{value * 100:.1f}%"
        elif fmt == "days":
            text = f"{value:.1f} d"
        else:
            text = f"{value:.2f}"
        cards.append(f'<div class="card"><b>{text}</b><span>{escape(label)}</span></div>')

    def last12(sql: str) -> float | None:
        row = con.execute(sql).fetchone()  # no row: a KPI table built from no cases
        return row[0] if row else None

    if _exists(con, "marts", "kpi_transition_monthly"):
        base = ("FROM marts.kpi_transition_monthly WHERE level = 'all' AND discharge_month >= "
                "(SELECT max(discharge_month) FROM marts.kpi_transition_monthly WHERE observable_index_stays > 0) "
                "- INTERVAL 11 MONTH")
        if descriptive:
            for cohort, label in (("in_case_management", "in case management"), ("comparable_not_in_cm", "comparable")):
                add(f"30-day readmission, {label} (last 12 observable months)",
                    last12(f"SELECT sum(readmissions) / nullif(sum(observable_index_stays), 0) {base} "
                           f"AND cohort = '{cohort}'"), "pct")
                add(f"O/E, {label}", last12(f"SELECT sum(observed_readmissions_scored) / "
                                           f"nullif(sum(expected_readmissions), 0) {base} AND cohort = '{cohort}'"),
                    "ratio")
        else:
            add("follow-up within 7 days, in case management",
                last12(f"SELECT sum(followup_7d_stays) / nullif(sum(followup_eligible_stays), 0) {base} "
                       "AND cohort = 'in_case_management'"), "pct")
    if descriptive:
        return (f'<p>From the KPI marts, unadjusted: <span class="label">{escape(DESCRIPTIVE_LABEL)}</span></p>'
                f'<div class="cards">{"".join(cards)}</div>') if cards else ""
    if _exists(con, "marts", "kpi_referral_monthly"):
        add("engagement rate (last 12 months of referrals)", _engagement(con), "pct")
    if _exists(con, "marts", "kpi_documentation"):
        add("documentation complete (open cases today)",
            last12("SELECT documentation_completeness_rate FROM marts.kpi_documentation WHERE level = 'all'"), "pct")
    return f'<div class="cards">{"".join(cards)}</div>' if cards else missing("No KPI tables yet.")


def _engagement(con: duckdb.DuckDBPyConnection) -> float | None:
    """Engaged / resolved referrals over the last 12 months of marts.kpi_referral_monthly."""
    if not _exists(con, "marts", "kpi_referral_monthly"):
        return None
    return con.execute(
        "SELECT sum(engaged) / nullif(sum(resolved_referrals), 0) FROM marts.kpi_referral_monthly "
        "WHERE level = 'all' AND referral_month >= (SELECT max(referral_month) FROM marts.kpi_referral_monthly) "
        "- INTERVAL 11 MONTH").fetchone()[0]


def _lottery_context(con: duckdb.DuckDBPyConnection) -> LotteryContext:
    """The latest lottery round's band size (the pipeline's own log, else the landed extract), the
    list's open slots and the engagement rate, for the power line."""
    band = None
    if _exists(con, "marts", "intake_assignment"):
        band = con.execute("SELECT max(band_size) FROM marts.intake_assignment WHERE assignment_date = "
                           "(SELECT max(assignment_date) FROM marts.intake_assignment)").fetchone()[0]
    if band is None and _exists(con, "raw", "cm_intake_assignment"):
        band = con.execute("SELECT count(*) FILTER (WHERE lottery_band_flag = 1) FROM raw.cm_intake_assignment "
                           "WHERE assignment_date = (SELECT max(assignment_date) FROM raw.cm_intake_assignment)"
                           ).fetchone()[0] or None
    slots = con.execute("SELECT count(*) FROM marts.intake_list").fetchone()[0] \
        if _exists(con, "marts", "intake_list") else None
    uptake = _engagement(con)
    return LotteryContext(band_size=int(band) if band else None, open_slots=slots or None,
                          uptake=float(uptake) if uptake is not None else None)


def _effect_section(con: duckdb.DuckDBPyConnection) -> str:
    return render_effect_section(
        _read(con, "marts.program_effect"), _read(con, "marts.program_effect_balance"),
        _read(con, "marts.program_effect_overlap"), descriptive_cards=_cards(con, descriptive=True),
        lottery=_lottery_context(con), program_names=PROGRAM_NAMES)


def _benefit_section(con: duckdb.DuckDBPyConnection) -> str:
    basis = None
    if _exists(con, "marts", "intake_list"):
        found = con.execute("SELECT any_value(rank_basis) FROM marts.intake_list").fetchone()
        basis = found[0] if found else None
    check = None
    if _exists(con, "marts", "intake_assignment") and _exists(con, "core", "inpatient_stay"):
        as_of = con.execute("SELECT max(as_of_date) FROM ml.benefit_model").fetchone()[0] \
            if _exists(con, "ml", "benefit_model") else None
        if as_of is not None:
            check = lottery_benefit_check(con, as_of)
    return render_benefit_section(_read(con, "ml.benefit_model"), _read(con, "ml.benefit_calibration"), basis,
                                  _lottery_context(con).band_size, check)


def _kpi_section(con: duckdb.DuckDBPyConnection) -> str:
    cohorts = {"in_case_management": "in case management", "comparable_not_in_cm": "comparable, not in CM",
               "not_in_case_management": "not in CM"}
    tr = _read(con, "marts.kpi_transition_monthly", "WHERE level = 'all'")
    if tr is not None:
        tr = tr.filter(pl.col("observable_index_stays") > 0)
    ref = _read(con, "marts.kpi_referral_monthly", "WHERE level = 'all'")
    clo = _read(con, "marts.kpi_case_closure_monthly", "WHERE level = 'all'")
    load = _read(con, "marts.kpi_caseload_monthly", "WHERE level = 'program'")
    util = _read(con, "marts.kpi_utilization_monthly", "WHERE level = 'all'")
    comp = _read(con, "marts.kpi_contact_compliance_monthly", "WHERE level = 'all'")
    ref_long = None
    if ref is not None:
        ref_long = ref.unpivot(index="referral_month", on=["engagement_rate", "referral_completion_rate"],
                               variable_name="kpi", value_name="value")
    days = None
    if ref is not None:
        days = ref.unpivot(index="referral_month", on=["days_to_first_contact_median", "days_to_first_contact_p90"],
                           variable_name="kpi", value_name="value")
    util_long = util
    charts = [
        _trend(tr, "discharge_month", "readmission_rate", "cohort", "30-day readmission rate", names=cohorts),
        _trend(tr, "discharge_month", "oe_ratio", "cohort", "Observed / expected readmissions", fmt="num",
               names=cohorts),
        _trend(tr, "discharge_month", "followup_7d_rate", "cohort", "Follow-up visit within 7 days", names=cohorts),
        _trend(ref_long, "referral_month", "value", "kpi", "Engagement and referral completion",
               names={"engagement_rate": "engagement", "referral_completion_rate": "services received / referred"}),
        _trend(days, "referral_month", "value", "kpi", "Days from referral to first contact", fmt="num",
               names={"days_to_first_contact_median": "median", "days_to_first_contact_p90": "90th percentile"}),
        _trend(load, "snapshot_date", "caseload_per_manager", "program", "Active cases per case manager, by program",
               fmt="num", names=PROGRAM_NAMES),
        _trend(util_long, "month", "admissions_per_1000_mm", "cohort", "Admissions per 1,000 member-months",
               fmt="num", names=cohorts),
        _trend(util_long, "month", "ed_visits_per_1000_mm", "cohort", "ED visits per 1,000 member-months",
               fmt="num", names=cohorts),
        _trend(util_long, "month", "pmpm_paid_amount", "cohort", "Cost per member per month (paid)", fmt="money",
               names=cohorts),
        _trend(comp, "scheduled_month", "followup_compliance_rate", None, "Scheduled contacts made on time"),
        _trend(clo, "close_month", "goals_achieved_rate", None, "Goals achieved in closed cases"),
        _trend(clo, "close_month", "case_length_days_median", None, "Case length, median days", fmt="num"),
    ]
    out = ['<p class="gloss">Lines by cohort describe members in and out of case management; they are '
           f'{DESCRIPTIVE_LABEL} (the first section says why and gives the adjusted effect).</p>',
           f'<div class="grid2">{"".join(f"<div>{c}</div>" for c in charts)}</div>']
    if clo is not None and clo.height and clo["satisfaction_responses"].sum() > 0:
        sat = clo.filter(pl.col("satisfaction_responses") > 0).sort("close_month").tail(6).select(
            "close_month", "satisfaction_responses", "satisfaction_mean", "satisfied_share")
        out.append("<h3>Client satisfaction (last six months with responses)</h3>" + table(sat, {"satisfied_share": "pct"}))
    else:
        out.append(missing("Client satisfaction: no survey responses supplied."))
    doc = _read(con, "marts.kpi_documentation", "WHERE level IN ('all', 'program') ORDER BY level, program")
    if doc is not None:
        out.append("<h3>Documentation completeness of open cases</h3>" + table(
            doc.select("level", "program", "open_cases", "with_assessment", "with_care_plan", "with_goal",
                       "with_recent_note", "documentation_completeness_rate"),
            {"documentation_completeness_rate": "pct"}))
    cl = _read(con, "marts.kpi_caseload_monthly",
               "WHERE level = 'program' AND snapshot_date = (SELECT max(snapshot_date) FROM marts.kpi_caseload_monthly)")
    if cl is not None:
        out.append("<h3>Caseload against the guideline (latest snapshot)</h3>" + table(
            cl.select("program", "case_managers", "active_cases", "acuity_weighted_cases", "capacity",
                      "caseload_per_manager", "guideline_low", "guideline_high", "within_guideline_managers",
                      "above_guideline_managers")))
    perf = _read(con, "marts.kpi_list_performance", "ORDER BY list_as_of_date DESC LIMIT 6")
    if perf is not None and "oe_flag" in perf.columns:
        flagged = perf.filter(pl.col("oe_flag").str.starts_with("outside"))
        if flagged.height:
            out.append("<p><b>Calibration drift</b>: " + "; ".join(
                f"the {escape(r['score_name'])} list of {r['list_as_of_date']} had O/E {r['oe_ratio']:.2f} "
                f"(95% CI {r['oe_ci_low']:.2f}-{r['oe_ci_high']:.2f}), outside 0.8-1.25"
                for r in flagged.iter_rows(named=True)) + ".</p>")
    out.append("<h3>How earlier intake lists performed</h3>" + (
        table(perf.drop("as_of_date"), {"event_rate": "pct"}) if perf is not None and perf.height
        else missing("No earlier intake list has a closed 30-day window yet (needs runs at least 30 days apart).")))
    drift = _read(con, "marts.kpi_score_drift")
    out.append("<h3>Score drift between scoring runs (PSI)</h3>" + (
        table(drift) if drift is not None and drift.height
        else missing("Score drift needs two scoring runs with different as-of dates; only one is recorded.")))
    return "".join(out)


def _find_bins(task: dict) -> list[dict] | None:
    for holder in (task.get("test", {}), task):
        for key, value in holder.items():
            if "calib" in key and isinstance(value, list) and value and isinstance(value[0], dict) \
                    and {"mean_predicted", "observed"} <= set(value[0]):
                return value
    return None


def _lift_points(task: dict) -> dict[str, dict[str, float]]:
    """{selection point (e.g. capacity, top_5pct): {model: lift}} from test and baseline entries
    that carry a dict with a 'lift' figure; a list of {label/top_pct/k, lift} rows under 'lift' too."""
    points: dict[str, dict[str, float]] = {}
    entries = {"current model": task.get("test", {}),
               **{f"{k}": v for k, v in (task.get("baselines") or {}).items() if isinstance(v, dict)}}
    for model, entry in entries.items():
        for key, value in entry.items():
            if isinstance(value, dict) and isinstance(value.get("lift"), int | float):
                points.setdefault(key, {})[model] = float(value["lift"])
        if isinstance(entry.get("lift"), list):
            for i, row in enumerate(entry["lift"]):
                if isinstance(row, dict) and "lift" in row:
                    label = str(row.get("label", row.get("top_pct", row.get("k", i + 1))))
                    points.setdefault(f"lift {label}", {})[model] = float(row["lift"])
    return points


def _fairness(fairness: object) -> str:
    if isinstance(fairness, dict) and isinstance(fairness.get("groups"), dict):
        rows = []
        for attribute, groups in fairness["groups"].items():
            for group, m in (groups or {}).items():
                if isinstance(m, dict):
                    rows.append({"subgroup": attribute, "group": group,
                                 **{k: m.get(k) for k in ("n", "events", "auroc", "observed_expected", "fnr",
                                                          "selection_rate", "share_ratio")},
                                 "flags": "; ".join(m.get("flags") or [])})
        flags = fairness.get("flags") or []
        flag_html = ("<ul>" + "".join(f"<li>{escape(str(f))}</li>" for f in flags) + "</ul>") if flags else \
            "<p>No subgroup flagged.</p>"
        return (table(pl.DataFrame(rows, infer_schema_length=None)) if rows else missing("No subgroups.")) + \
            "<p><b>Flags</b></p>" + flag_html
    rows = _flatten(fairness)
    return table(pl.DataFrame(rows, infer_schema_length=None)) if rows else missing("Fairness entry is empty.")


def _flatten(obj: object, path: tuple[str, ...] = ()) -> list[dict]:
    """Rows of {group path..., metric: value} from a nested fairness dict or list."""
    if isinstance(obj, list):
        return [r for item in obj for r in _flatten(item, path)]
    if isinstance(obj, dict):
        scalars = {k: v for k, v in obj.items() if isinstance(v, int | float | str | type(None))}
        nested = {k: v for k, v in obj.items() if isinstance(v, dict | list)}
        rows = []
        if scalars:
            rows.append({**{f"group_{i + 1}": p for i, p in enumerate(path)}, **scalars})
        for k, v in nested.items():
            rows.extend(_flatten(v, (*path, k)))
        return rows
    return []


def _calibration_words(task: dict) -> str:
    """One paragraph on whether the current model's probabilities hold on its test rows (O/E with its
    exact interval), with the regime it was trained in and the comparison with logistic regression."""
    from models.metrics import oe_excludes_one

    test, parts = task["test"], []
    ci = test.get("oe_ci")
    if ci:
        figures = f"observed / expected {test['oe']:.2f} (95% CI {ci[0]:.2f}-{ci[1]:.2f}) on {test['n']} test rows"
        if oe_excludes_one(ci):
            direction = "under-predicts" if test["oe"] > 1 else "over-predicts"
            parts.append(f"<b>Probabilities are off in the large</b>: {figures}; the interval excludes 1, so the model "
                         f"{direction} events in the latest labelled period. The O/E KPIs use probabilities recalibrated "
                         "on that period; the ranking and the intake list are unchanged.")
        else:
            parts.append(f"Probabilities hold in the large: {figures}, an interval that covers 1.")
    regime = task.get("regime")
    if regime:
        parts.append(f"Trained in the {escape(regime['name'])} regime: {escape(regime['reason'])}.")
    vs = task.get("vs_logistic")
    if vs:
        parts.append(f"Against logistic regression: {escape(logistic_comparison_text(vs))}.")
    return f"<p>{' '.join(parts)}</p>" if parts else ""


def _model_section(metrics: dict | None, calibration: dict[str, list[dict]] | None = None) -> str:
    if not metrics:
        return missing("metrics.json not found: model performance, calibration, lift and fairness are not shown.")
    out = []
    for task_name in sorted(metrics):
        task = metrics[task_name]
        if not isinstance(task, dict) or "test" not in task:
            continue
        title = TASK_TITLES.get(task_name, task_name)
        out.append(f"<h3>{escape(title)}</h3>")
        fields = ["auroc", "auroc_ci", "auprc", "brier", "calibration_slope", "calibration_intercept", "n", "events"]
        rows = [{"model": "current model", **{f: task["test"].get(f) for f in fields}}]
        rows += [{"model": f"baseline: {name}", **{f: b.get(f) for f in fields}}
                 for name, b in (task.get("baselines") or {}).items() if isinstance(b, dict)]
        if task.get("oracle_auroc") is not None:
            rows.append({"model": "oracle (true probability, demo data only)", "auroc": task["oracle_auroc"]})
        frame = pl.DataFrame([{k: (", ".join(f"{x:.3f}" for x in v) if isinstance(v, list) else v)
                               for k, v in r.items()} for r in rows], infer_schema_length=None)
        out.append(table(frame, headers={"auroc_ci": "AUROC 95% CI"}))
        out.append(_calibration_words(task))
        missing_fields = [f for f in fields if task["test"].get(f) is None]
        if missing_fields:
            out.append(missing(f"Not reported for the current model: {', '.join(missing_fields)}."))
        bins = _find_bins(task)
        source = "test rows"
        if not bins and (calibration or {}).get(task_name):
            bins, source = calibration[task_name], "test window, recomputed"
        charts = [calibration_chart(f"Calibration ({source})", bins) if bins
                  else missing("Calibration bins are not in metrics.json; the calibration slope and intercept "
                               "above summarise calibration.")]
        lift = _lift_points(task)
        for point, by_model in lift.items():
            charts.append(bar_chart(f"{title}: lift at {point.replace('_', ' ')} (1 = random)", list(by_model),
                                    list(by_model.values()), reference=1.0))
        if not lift and bins:
            rate = sum(b["observed"] * b["n"] for b in bins) / max(sum(b["n"] for b in bins), 1)
            charts.append(bar_chart(f"{title}: lift by predicted-risk decile (observed / overall rate)",
                                    [f"D{i + 1}" for i in range(len(bins))],
                                    [b["observed"] / rate if rate else 0.0 for b in bins], reference=1.0))
        elif not lift:
            charts.append(missing("Lift is not in metrics.json."))
        out.append(f'<div class="grid2">{"".join(f"<div>{c}</div>" for c in charts)}</div>')
        fairness = task.get("fairness")
        out.append("<h4>Fairness by subgroup</h4>" + (
            _fairness(fairness) if fairness else missing("Fairness by subgroup is not in metrics.json for this model.")))
    return "".join(out) or missing("metrics.json has no model with test metrics.")


def _data_quality(con: duckdb.DuckDBPyConnection) -> str:
    log = _read(con, "audit.ingest_log")
    if log is None or log.height == 0:
        return missing("audit.ingest_log is empty: no ingestion run recorded.")
    run_id = log.sort("logged_at")["run_id"][-1]
    last = (
        log.filter(pl.col("run_id") == run_id)
        .group_by("extract")
        .agg(
            pl.len().alias("files"),
            pl.col("status").unique().sort().str.join(", ").alias("status"),
            pl.col("rows_read", "rows_loaded", "rows_quarantined").sum(),
            pl.col("missing_optional_columns").drop_nulls().filter(pl.col("missing_optional_columns") != "")
            .unique().sort().str.join(", ").alias("missing_optional_columns"),
        )
        .with_columns((pl.col("rows_quarantined") / pl.col("rows_read")).alias("quarantined_share"))
        .sort("extract")
    )
    out = [f"<p>Run <code>{escape(str(run_id))}</code>: rows read, loaded and quarantined per extract "
           "(summed over the files the run read).</p>", table(last, {"quarantined_share": "pct"})]
    rules = []
    for extract in last["extract"].to_list():
        if extract in EXTRACTS and _exists(con, "quarantine", extract):
            # the name is one of the contract extracts (a fixed list) and exists as a table
            columns = {r[0] for r in con.execute(f"DESCRIBE quarantine.{extract}").fetchall()}
            where = "WHERE _run_id = $run_id" if "_run_id" in columns else ""
            rules.append(con.execute(
                f"SELECT $extract AS extract, split_part(_rule, ':', 1) AS rule, count(*) AS rows "
                f"FROM quarantine.{extract} {where} GROUP BY ALL",
                {"extract": extract, **({"run_id": run_id} if where else {})}).pl())
    if rules:
        frame = pl.concat(rules).sort(["extract", "rows"], descending=[False, True])
        out.append("<h3>Quarantined rows by rule</h3>" + (table(frame) if frame.height else "<p>No rows quarantined.</p>"))
    return "".join(out)


def _score_paths(con: duckdb.DuckDBPyConnection, metrics: dict | None, as_of: dt.date) -> str:
    """Which score paths ran for this as-of, which stopped and why, and which ranked by a fallback."""
    status = _read(con, "audit.score_path")
    rows = []
    for path, title in TASK_TITLES.items():
        rec = status.filter(pl.col("path") == path) if status is not None else None
        task = (metrics or {}).get(path, {}) if isinstance(metrics, dict) else {}
        if rec is None or rec.height == 0:
            state, detail = "not run", "no scoring step recorded"
        elif rec["as_of_date"][0] != as_of:
            state, detail = "missing", f"last scored for {rec['as_of_date'][0]}, not for this as-of"
        else:
            state = "scored" if rec["status"][0] == "scored" else "stopped"
            detail = rec["detail"][0] or f"{rec['score_rows'][0]} rows, by {rec['scored_by'][0]}"
        if isinstance(task, dict) and task.get("fallback"):
            detail += f" ({task['fallback']})"
        rows.append({"score": title, "status": state, "detail": detail})
    out = table(pl.DataFrame(rows))
    stopped = [r["score"] for r in rows if r["status"] != "scored"]
    if stopped:
        out += missing(f"Missing this run: {', '.join(stopped)}. The other path's scores, list and KPIs are complete.")
    return out


def _definitions(con: duckdb.DuckDBPyConnection) -> str:
    defs = _read(con, "marts.kpi_definition")
    if defs is None:
        return missing("marts.kpi_definition not built yet.")
    return table(defs)


def render_program_report(con: duckdb.DuckDBPyConnection, metrics: dict | None, as_of: dt.date,
                          calibration: dict[str, list[dict]] | None = None) -> str:
    """The report as one HTML string. ``calibration``: bins per task to draw when metrics.json has none."""
    body = (
        f'<section id="program-effect"><h2>Does case management work?</h2>{_effect_section(con)}</section>'
        f"<section><h2>At a glance</h2>{_cards(con, descriptive=False)}</section>"
        f"<section><h2>Scores this run</h2>{_score_paths(con, metrics, as_of)}</section>"
        f"<section><h2>KPI trends (all programs)</h2>{_kpi_section(con)}</section>"
        f"<section><h2>Models: performance, calibration, lift and fairness</h2>{_model_section(metrics, calibration)}</section>"
        f'<section id="benefit"><h2>Who would benefit from enrolment</h2>{_benefit_section(con)}</section>'
        f"<section><h2>Data quality of the last run</h2>{_data_quality(con)}</section>"
        f"<section><h2>KPI definitions</h2>{_definitions(con)}</section>"
    )
    return page("Case management program report", f"As of {as_of.isoformat()} · generated by riskstrat", body)


def write_program_report(con: duckdb.DuckDBPyConnection, metrics_path: Path, as_of: dt.date, out_path: Path,
                         calibration: dict[str, list[dict]] | None = None) -> Path:
    """Write the report to ``out_path``; ``metrics_path`` may be absent."""
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else None
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(render_program_report(con, metrics, as_of, calibration), encoding="utf-8")
    return out_path
