"""Does marts.program_effect recover the generator's known effect? Generate, build what the estimate
needs, estimate, compare with the oracle; print a table.

    python benchmarks/bench_program_effect.py --members 20000 --seeds 1 2 --cm-effect 1 0 \
        --cm-selection observed --workdir DIR
    python benchmarks/bench_program_effect.py --members 100000 --seeds 1 2 3 4 5 --cm-effect 1 0 \
        --cm-selection latent --workdir DIR
    python benchmarks/bench_program_effect.py --members 100000 --seeds 1 --cm-effect 1 --cm-lottery 0.5 ...

Each run gets ``<workdir>/m<members>_<selection>_e<effect>_l<lottery>_s<seed>/`` with ``landing/``
(``synth.generator.generate``; reused when present) and ``home/``. Dagster materialises the assets
upstream of ``marts.program_effect`` (ingest, core.inpatient_stay, features.readmission_stay); the
estimate itself is ``models.program_effect.build_program_effect`` on that warehouse, timed alone.

Truth (``_oracle/cm_effect.csv``, one row per index stay, matched on person_id + discharge_date): the
ATT on 30-day readmission is the mean of p_readmit_30d_if_enrolled - p_readmit_30d_if_not_enrolled over
the stays the pipeline counts as enrolled and keeps in the estimate (overall, ``program = 'all'``).
For 12-month admissions the truth is the same mean of admissions_12m_if_enrolled - _if_not_enrolled,
divided by 12 to compare with the per-member-month estimate (approximate: members who leave or die
have fewer member-months); the 6-month pre/post change is set against it too (descriptive, on a 6-month
window). With ``--cm-lottery`` the randomised estimate is compared with ``_oracle/cm_lottery.csv``
(expected admissions in the 180 days after the round, offered or not) over the band rows the
pipeline reports. Rows are appended to ``<workdir>/results.jsonl``. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import polars as pl


def _build_inputs(home: Path, landing: Path) -> float:
    """Materialise everything upstream of marts.program_effect (not the asset itself); seconds."""
    import dagster as dg

    from data_contracts.landing import landing_months
    from pipelines.definitions import build_definitions
    from pipelines.partitions import execute_over_months
    from pipelines.resources import RiskstratSettings

    started = time.perf_counter()
    defs = build_definitions(RiskstratSettings(home=str(home), landing=str(landing)))
    target = dg.AssetSelection.assets(["marts", "program_effect"])
    # every extract (features.readmission_stay also reads raw.sdoh_screening, which its deps do not
    # name); ingest assets also write quarantine tables, which come along (they cannot be split)
    inputs = ((target.upstream() - target) | dg.AssetSelection.key_prefixes(["raw"])).required_multi_asset_neighbors()
    job = dg.define_asset_job("bench_program_effect_inputs", selection=inputs)
    resolved = dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def(job.name)
    months = landing_months(landing)
    execute_over_months(resolved, months, months[0], months[-1], raise_on_error=True)
    return time.perf_counter() - started


def _row(effects: pl.DataFrame, outcome: str, method: str, program: str = "all") -> dict:
    rows = effects.filter((pl.col("outcome") == outcome) & (pl.col("method") == method)
                          & (pl.col("program") == program)).to_dicts()
    return rows[0] if rows else {}


def _covers(row: dict, value: float) -> bool | None:
    if not row or row.get("ci_low") is None or value is None or math.isnan(value):
        return None
    return bool(row["ci_low"] <= value <= row["ci_high"])


def run_one(workdir: Path, members: int, seed: int, effect: float, selection: str, lottery: float) -> dict:
    import duckdb

    from models.program_effect import build_program_effect
    from pipelines.resources import RiskstratSettings
    from synth.generator import generate

    base = workdir / f"m{members}_{selection}_e{effect:g}_l{lottery:g}_s{seed}"
    landing, home = base / "landing", base / "home"
    started = time.perf_counter()
    if not (landing / "_oracle" / "cm_effect.csv").exists():
        generate(out_dir=landing, members=members, seed=seed, cm_effect=effect, cm_selection=selection,
                 cm_lottery=lottery)
    generated = time.perf_counter() - started
    built = _build_inputs(home, landing)
    settings = RiskstratSettings(home=str(home), landing=str(landing))
    with settings.connect() as con:
        as_of = settings.resolve_as_of(con)
        t0 = time.perf_counter()
        tables = build_program_effect(con, as_of)
        estimate_s = time.perf_counter() - t0
    cohort = tables.cohort
    effects = tables.effects
    oracle = pl.read_csv(landing / "_oracle" / "cm_effect.csv", try_parse_dates=True)
    key = ["person_id", "discharge_date"]
    treated30 = (tables.propensity.filter((pl.col("program") == "all") & (pl.col("enrolled_flag") == 1)
                                          & (pl.col("in_estimate_flag") == 1))
                 .select(key).join(oracle, on=key, how="left"))
    true_att = float((treated30["p_readmit_30d_if_enrolled"] - treated30["p_readmit_30d_if_not_enrolled"]).mean())
    # does the pipeline's treatment rule agree with the generator's enrolment at time zero?
    agree = (cohort.filter(pl.col("opted_out_flag") == 0).select(*key, "enrolled_flag")
             .join(oracle.select(*key, "enrolled"), on=key, how="inner"))
    agreement = float((agree["enrolled_flag"] == agree["enrolled"]).mean()) if agree.height else float("nan")
    treated12 = (cohort.filter((pl.col("opted_out_flag") == 0) & (pl.col("enrolled_flag") == 1)
                               & pl.col("admissions_12m").is_not_null())
                 .select(key).join(oracle, on=key, how="left"))
    true_adm = float((treated12["admissions_12m_if_enrolled"] - treated12["admissions_12m_if_not_enrolled"]).mean()) / 12
    dr, naive = _row(effects, "readmit_30d", "aipw"), _row(effects, "readmit_30d", "naive")
    pre_post = _row(effects, "admissions_6m", "pre_post")
    dr12, naive12 = _row(effects, "admissions_12m", "aipw"), _row(effects, "admissions_12m", "naive")
    result = {
        "members": members, "seed": seed, "cm_effect": effect, "cm_selection": selection, "cm_lottery": lottery,
        "as_of": as_of.isoformat(), "generate_s": round(generated, 1), "build_s": round(built, 1),
        "estimate_s": round(estimate_s, 1), **tables.counts, "enrolment_agreement": round(agreement, 4),
        "true_att": true_att, "dr": dr, "naive": naive, "pre_post": pre_post,
        "true_admissions_12m_pmm": true_adm, "dr_admissions_12m": dr12, "naive_admissions_12m": naive12,
    }
    if lottery > 0 and (landing / "_oracle" / "cm_lottery.csv").exists():
        truth = pl.read_csv(landing / "_oracle" / "cm_lottery.csv", try_parse_dates=True)
        band = (truth.filter(pl.col("assignment_date") + pl.duration(days=180) < pl.lit(as_of)))
        gain = band["admissions_180d_if_offered"] - band["admissions_180d_if_not_offered"]
        result["true_lottery_itt"] = float(gain.mean()) if band.height else None
        result["lottery"] = _row(effects, "admissions_180d", "lottery_itt")
    with (workdir / "results.jsonl").open("a") as handle:
        handle.write(json.dumps(result, default=str) + "\n")
    return result


def _fmt(row: dict, key: str = "estimate") -> str:
    if not row or row.get(key) is None:
        return f"- ({row.get('status', 'missing') if row else 'missing'})"
    return f"{row['estimate']:+.4f} [{row['ci_low']:+.4f}, {row['ci_high']:+.4f}]"


def print_run(r: dict) -> None:
    dr, naive, pp = r["dr"], r["naive"], r["pre_post"]
    print(f"\nseed {r['seed']}  effect {r['cm_effect']:g}  selection {r['cm_selection']}  as-of {r['as_of']}  "
          f"stays {r['index_stays']}  eligible {r.get('eligible_stays')} (already in a program "
          f"{r.get('already_enrolled_stays')})  enrolled {r['enrolled_stays']}  rule agrees with generator "
          f"{r['enrolment_agreement']:.1%}  (generate {r['generate_s']} s, build {r['build_s']} s, "
          f"estimate {r['estimate_s']} s)")
    print(f"  30-day readmission  true ATT {r['true_att']:+.4f}   DR {_fmt(dr)}  covered "
          f"{_covers(dr, r['true_att'])}  E-value {dr.get('e_value') or float('nan'):.2f} "
          f"(CI {dr.get('e_value_ci') or float('nan'):.2f})  overlap {dr.get('overlap_share') or float('nan'):.3f}  "
          f"max SMD {dr.get('max_smd_before') or float('nan'):.2f} -> {dr.get('max_smd_after') or float('nan'):.2f}")
    excludes = None if naive.get("ci_low") is None else not (naive["ci_low"] <= 0 <= naive["ci_high"])
    print(f"                      naive {_fmt(naive)}  excludes 0 {excludes}")
    print(f"  admissions / member-month (12 m)  true {r['true_admissions_12m_pmm']:+.4f}  DR {_fmt(r['dr_admissions_12m'])}  "
          f"naive {_fmt(r['naive_admissions_12m'])}  pre/post (6 m) {_fmt(pp)}")
    if "lottery" in r:
        lot = r["lottery"]
        truth = r.get("true_lottery_itt")
        print(f"  lottery: admissions in 180 days, offered minus not  true "
              f"{'-' if truth is None else format(truth, '+.4f')}  "
              f"ITT {_fmt(lot)}  n {lot.get('n_treated')}/{lot.get('n_control')}  covered {_covers(lot, r.get('true_lottery_itt'))}")


def print_summary(results: list[dict]) -> None:
    print("\nsummary (30-day readmission, program = all)")
    for (effect, selection), group in _groups(results).items():
        dr_bias = [r["dr"]["estimate"] - r["true_att"] for r in group if r["dr"].get("estimate") is not None]
        naive_bias = [r["naive"]["estimate"] - r["true_att"] for r in group if r["naive"].get("estimate") is not None]
        covered = [_covers(r["dr"], r["true_att"]) for r in group]
        covers_zero = [_covers(r["dr"], 0.0) for r in group]
        naive_excl = [r["naive"].get("ci_low") is not None and not (r["naive"]["ci_low"] <= 0 <= r["naive"]["ci_high"])
                      for r in group]
        pp_bias = [r["pre_post"]["estimate"] - r["true_admissions_12m_pmm"] for r in group
                   if r["pre_post"].get("estimate") is not None]
        dr12_bias = [r["dr_admissions_12m"]["estimate"] - r["true_admissions_12m_pmm"] for r in group
                     if r["dr_admissions_12m"].get("estimate") is not None]
        print(f"  effect {effect:g} {selection}: runs {len(group)}  DR mean bias {_mean(dr_bias):+.4f}  "
              f"naive mean bias {_mean(naive_bias):+.4f}  DR covers truth {sum(bool(c) for c in covered)}/{len(group)}  "
              f"DR covers 0 {sum(bool(c) for c in covers_zero)}/{len(group)}  naive excludes 0 "
              f"{sum(naive_excl)}/{len(group)}  | admissions/mm: DR bias {_mean(dr12_bias):+.4f}  "
              f"pre/post bias {_mean(pp_bias):+.4f}")


def _groups(results: list[dict]) -> dict:
    out: dict = {}
    for r in results:
        out.setdefault((r["cm_effect"], r["cm_selection"]), []).append(r)
    return out


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--cm-effect", type=float, nargs="+", default=[1.0])
    parser.add_argument("--cm-selection", choices=["observed", "latent"], default="observed")
    parser.add_argument("--cm-lottery", type=float, default=0.0)
    parser.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    results = []
    for effect in args.cm_effect:
        for seed in args.seeds:
            result = run_one(args.workdir, args.members, seed, effect, args.cm_selection, args.cm_lottery)
            print_run(result)
            results.append(result)
    print_summary(results)


if __name__ == "__main__":
    main()
