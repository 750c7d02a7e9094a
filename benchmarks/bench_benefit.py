"""Which intake ranking averts the most events at the program's capacity: risk, estimated benefit or
blend, against the oracle's best and a random ranking, on generated data with a known,
heterogeneous effect.

    python benchmarks/bench_benefit.py --members 100000 --seeds 1 2 3 4 5 --workdir DIR
    python benchmarks/bench_benefit.py --members 20000 --seeds 1 --workdir DIR --cm-selection latent
    python benchmarks/bench_benefit.py --members 100000 --seeds 1 2 3 4 5 --workdir DIR --rebuild-benefit

Per seed: generate (``--cm-selection``, default observed: the programs pick on what the extracts
record, so no unmeasured confounding), run the whole pipeline (risk ranking, the default), then
rank the same candidate pool (members eligible for the readmission list on the as-of date) four
ways and sum the oracle's true benefit (``_oracle/cm_benefit.csv``) over the top k, k = the open
care-transitions slots, the program the readmission list feeds first (models.benefit_eval). Prints one table per seed, then per ranking the mean over seeds
and the paired difference from risk ranking with a 95% t-interval over seeds, and the share of the
oracle-best ranking's averted events. Rows go to ``<workdir>/results.jsonl``. Prints figures;
asserts nothing (not a CI test).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import polars as pl
from scipy.stats import t as student_t

OUTCOMES = ("readmit_30d", "admission_12m")


def run_one(workdir: Path, members: int, seed: int, selection: str, effect: float, rebuild_benefit: bool = False) -> dict:
    from models.benefit_eval import benefit_oracle, compare_rankings
    from models.intake import candidate_pool, open_capacity
    from pipelines.cli import run_pipeline
    from pipelines.resources import RiskstratSettings
    from synth.generator import generate

    base = workdir / f"m{members}_{selection}_e{effect:g}_s{seed}"
    landing, home = base / "landing", base / "home"
    started = time.perf_counter()
    if not (landing / "_oracle" / "cm_benefit.csv").exists():
        generate(out_dir=landing, members=members, seed=seed, cm_effect=effect, cm_selection=selection)
    generated = time.perf_counter() - started
    if not (home / "warehouse.duckdb").exists() or not _has(home, "ml.benefit_score"):
        if not run_pipeline(home, landing):
            raise SystemExit(f"pipeline failed for seed {seed}; see the log above")
    ran = time.perf_counter() - started - generated
    settings = RiskstratSettings(home=str(home), landing=str(landing))
    if rebuild_benefit:  # re-estimate ml.benefit_score on the existing warehouse (to iterate on models.benefit)
        from models.benefit import build_benefit, write_benefit

        with settings.connect() as con:
            write_benefit(con, build_benefit(con, settings.resolve_as_of(con)))
    with settings.connect(read_only=True) as con:
        as_of = settings.resolve_as_of(con)
        scores = con.execute("SELECT * FROM ml.readmission_score").pl()
        benefit = con.execute("SELECT * FROM ml.benefit_score").pl()
        model = con.execute("SELECT * FROM ml.benefit_model").pl()
        pool = candidate_pool(con, scores, as_of, benefit)
        slots = open_capacity(con, as_of)
        # the readmission list feeds care transitions first (models.intake.PROGRAM_PREFERENCE): its
        # open slots are the scarce ones a discharge competes for (the whole team's slots usually
        # exceed the discharges of a month, and then no ranking matters)
        capacity = int(slots.filter(pl.col("program") == "care_transitions")["free_slots"].sum())
        team_capacity = int(slots["free_slots"].sum())
    result = {"members": members, "seed": seed, "cm_selection": selection, "cm_effect": effect,
              "as_of": as_of.isoformat(), "generate_s": round(generated, 1), "run_s": round(ran, 1),
              "pool": pool.height, "capacity": capacity, "team_capacity": team_capacity, "benefit_model": model.to_dicts(), "rankings": {}}
    for outcome in OUTCOMES:
        oracle = benefit_oracle(landing, as_of, outcome)
        if oracle is None:
            continue
        rows, curves = compare_rankings(pool, oracle, capacity, seed=seed)
        result["rankings"][outcome] = rows
        curves.write_csv(base / f"qini_{outcome}.csv")
    with (workdir / "results.jsonl").open("a") as handle:
        handle.write(json.dumps(result, default=str) + "\n")
    return result


def _has(home: Path, table: str) -> bool:
    import duckdb

    schema, name = table.split(".")
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
                           [schema, name]).fetchone()[0] > 0


def print_run(r: dict) -> None:
    print(f"\nmembers {r['members']} seed {r['seed']} ({r['cm_selection']}, effect {r['cm_effect']:g}): as-of {r['as_of']}, "
          f"pool {r['pool']}, capacity {r['capacity']} care-transitions slots ({r['team_capacity']} in the team) (generate {r['generate_s']} s, pipeline {r['run_s']} s)")
    for m in r["benefit_model"]:
        loading = m.get("heterogeneity_loading")
        print(f"  benefit model {m['outcome']}: {m['status']}; average {m.get('average_effect')}; BLP loading "
              f"{loading if loading is None else round(loading, 2)} "
              f"[{m.get('heterogeneity_loading_ci_low')}, {m.get('heterogeneity_loading_ci_high')}]")
    for outcome, rows in r["rankings"].items():
        print(f"  {outcome}: " + " | ".join(f"{x['ranking']} {x['events_averted']:.2f} ({x['share_of_best']:.0%} of best)"
                                             for x in rows if x["share_of_best"] is not None))


def _interval(values: list[float]) -> tuple[float, float, float]:
    a = np.asarray(values, dtype=float)
    if a.size < 2:
        return float(a.mean()), math.nan, math.nan
    half = float(student_t.ppf(0.975, a.size - 1) * a.std(ddof=1) / math.sqrt(a.size))
    return float(a.mean()), float(a.mean() - half), float(a.mean() + half)


def print_summary(results: list[dict]) -> None:
    print("\n| outcome | ranking | events averted at capacity, mean over seeds | minus risk ranking [95% CI over seeds] | share of oracle best |")
    print("|---|---|---:|---|---:|")
    for outcome in OUTCOMES:
        runs = [r["rankings"][outcome] for r in results if outcome in r["rankings"]]
        if not runs:
            continue
        by = {name: [next(x for x in run if x["ranking"] == name) for run in runs]
              for name in ("oracle", "risk", "benefit", "blend", "random")}
        risk = [x["events_averted"] for x in by["risk"]]
        for name, rows in by.items():
            averted = [x["events_averted"] for x in rows]
            mean = float(np.mean(averted))
            d, lo, hi = _interval([a - b for a, b in zip(averted, risk, strict=True)])
            share = float(np.mean([x["share_of_best"] for x in rows]))
            print(f"| {outcome} | {name} | {mean:.2f} | {d:+.2f} [{lo:+.2f}, {hi:+.2f}] | {share:.0%} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--cm-selection", choices=["observed", "latent"], default="observed")
    parser.add_argument("--cm-effect", type=float, default=1.0)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--rebuild-benefit", action="store_true",
                        help="on an existing run, re-estimate only ml.benefit_score before comparing")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    results = []
    for seed in args.seeds:
        r = run_one(args.workdir, args.members, seed, args.cm_selection, args.cm_effect, args.rebuild_benefit)
        print_run(r)
        results.append(r)
    print_summary(results)


if __name__ == "__main__":
    main()
