"""Calibration across population sizes and seeds: generate, run the whole pipeline, print a table.

    python benchmarks/bench_calibration.py --members 10000 --seeds 1 2 3 [--workdir DIR]
    python benchmarks/bench_calibration.py --members 100000 --seeds 11 --workdir DIR
    python benchmarks/bench_calibration.py --members 10000 --seeds 1 --workdir DIR --train-only

Each (members, seed) gets ``<workdir>/m<members>_s<seed>/`` with ``landing/`` (``synth.generator.generate``)
and ``home/`` (``pipelines.cli.run_pipeline``); an existing landing folder is reused. ``--train-only``
re-materialises only the two model assets on an existing home (to iterate on training code).
Per task it prints, for LightGBM on its test rows: AUROC, calibration slope [95% CI], O/E [exact
Poisson 95% CI], the paired AUROC difference vs logistic regression [95% CI], the calibration
regime, the oracle AUROCs, and whether both the slope's and the O/E interval cover 1. Rows are
appended to ``<workdir>/results.jsonl``. Prints figures; asserts nothing (not a CI test).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

TASKS = ("readmission", "high_need")


def _train_only(home: Path, landing: Path) -> bool:
    import dagster as dg

    from data_contracts.landing import landing_months
    from pipelines.definitions import build_definitions
    from pipelines.partitions import execute_over_months
    from pipelines.resources import RiskstratSettings

    defs = build_definitions(RiskstratSettings(home=str(home), landing=str(landing)))
    job = dg.define_asset_job("bench_train", selection=dg.AssetSelection.assets(["ml", "readmission_model"],
                                                                                 ["ml", "high_need_model"]))
    resolved = dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def(job.name)
    months = landing_months(landing)
    return execute_over_months(resolved, months, months[0], months[-1], raise_on_error=True).success


def run_one(workdir: Path, members: int, seed: int, train_only: bool) -> dict:
    from pipelines.cli import run_pipeline
    from synth.generator import generate

    base = workdir / f"m{members}_s{seed}"
    landing, home = base / "landing", base / "home"
    started = time.perf_counter()
    if not (landing / "eligibility.csv").exists():
        generate(out_dir=landing, members=members, seed=seed)
    generated = time.perf_counter()
    if train_only:
        # a fresh candidate must not be judged against the previous one: clear the CURRENT pointers
        for task in TASKS:
            (home / "models" / task / "CURRENT").unlink(missing_ok=True)
        ok = _train_only(home, landing)
    else:
        ok = run_pipeline(home, landing)
    finished = time.perf_counter()
    metrics = json.loads((home / "outputs" / "metrics.json").read_text())
    return {"members": members, "seed": seed, "ok": ok, "generate_s": round(generated - started, 1),
            "run_s": round(finished - generated, 1), "metrics": {t: metrics.get(t) for t in TASKS}}


def _covers(ci: list | None) -> bool | None:
    return None if not ci else bool(ci[0] <= 1.0 <= ci[1])


def rows(result: dict) -> list[dict]:
    out = []
    for task in TASKS:
        entry = result["metrics"].get(task) or {}
        test = entry.get("test")
        if not test:
            out.append({"members": result["members"], "seed": result["seed"], "task": task,
                        "note": entry.get("fallback", "no model")})
            continue
        vs = entry.get("vs_logistic") or (entry.get("baselines", {}).get("logistic", {}).get("vs_lightgbm")) or {}
        slope_ci, oe_ci = test.get("calibration_slope_ci"), test.get("oe_ci")
        out.append({
            "members": result["members"], "seed": result["seed"], "task": task, "n": test["n"], "events": test["events"],
            "auroc": test["auroc"], "auroc_ci": test["auroc_ci"],
            "slope": test["calibration_slope"], "slope_ci": slope_ci,
            "oe": test.get("oe", test.get("observed_expected_ratio")), "oe_ci": oe_ci,
            "vs_logistic": vs.get("auroc_difference"), "vs_logistic_ci": vs.get("auroc_difference_ci"),
            "regime": test.get("calibration_regime"),
            "oracle": entry.get("oracle_auroc"), "oracle_at_discharge": entry.get("oracle_at_discharge_auroc"),
            "both_cover_1": bool(_covers(slope_ci) and _covers(oe_ci)),
        })
    return out


def _ci(ci: list | None, spec: str = ".2f") -> str:
    return "[" + ", ".join(format(v, spec) for v in ci) + "]" if ci else "-"


def _num(v: float | None, spec: str = ".3f") -> str:
    return "-" if v is None else format(v, spec)


def print_table(all_rows: list[dict]) -> None:
    head = ("members", "seed", "task", "n/events", "AUROC", "slope [CI]", "O/E [CI]", "vs logistic [CI]", "regime",
            "oracle / at discharge", "both cover 1")
    print(" | ".join(head))
    for r in all_rows:
        if "auroc" not in r:
            print(f"{r['members']} | {r['seed']} | {r['task']} | {r.get('note')}")
            continue
        print(" | ".join([
            str(r["members"]), str(r["seed"]), r["task"], f"{r['n']}/{r['events']}", _num(r["auroc"]),
            f"{_num(r['slope'], '.2f')} {_ci(r['slope_ci'])}", f"{_num(r['oe'], '.2f')} {_ci(r['oe_ci'])}",
            f"{_num(r['vs_logistic'], '+.3f')} {_ci(r['vs_logistic_ci'], '+.3f')}", str(r["regime"]),
            f"{_num(r['oracle'])} / {_num(r['oracle_at_discharge'])}", str(r["both_cover_1"]),
        ]))
    judged = [r for r in all_rows if "auroc" in r]
    print(f"\nboth intervals cover 1 in {sum(r['both_cover_1'] for r in judged)} of {len(judged)} task-runs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, nargs="+", default=[10_000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--workdir", type=Path, default=Path("bench-calibration"))
    parser.add_argument("--train-only", action="store_true")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    all_rows = []
    for members in args.members:
        for seed in args.seeds:
            result = run_one(args.workdir, members, seed, args.train_only)
            print(f"members {members} seed {seed}: run ok={result['ok']} (generate {result['generate_s']} s, "
                  f"run {result['run_s']} s)", flush=True)
            new = rows(result)
            with (args.workdir / "results.jsonl").open("a") as f:
                for r in new:
                    f.write(json.dumps(r | {"run_s": result["run_s"], "train_only": args.train_only}) + "\n")
            all_rows += new
    print_table(all_rows)


if __name__ == "__main__":
    main()
