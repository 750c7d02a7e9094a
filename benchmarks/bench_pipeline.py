"""Time and peak memory of every pipeline stage at several population sizes.

    python benchmarks/bench_pipeline.py --members 10000 100000 [--workdir DIR] [--keep]

Each stage runs in its own child process (so its peak RSS is its own, read from
``os.wait4``) against one warehouse, in pipeline order: generate, ingest, contracts,
features, train, score (+ SHAP reasons), outputs (intake list + KPIs), report. Ratios
measured in the same run, so machine noise cancels:

- features / bare scan: the feature stage against one DuckDB scan-and-aggregate of the
  same claims, encounters and labs (the floor for reading the data once);
- our SHAP reasons / shap.TreeExplainer on the same rows and model;
- contracts / ingest: the great-expectations checks against the ingestion they guard.

Between consecutive sizes it prints the ratio of every stage's time and peak RSS (1M / 100k
with ``--members 100000 1000000``). Each child's stderr goes to ``<workdir>/logs/`` (a failed
stage's last lines are printed) and every measurement is appended to
``<workdir>/results.jsonl`` as soon as it is taken, so a run that dies part-way keeps its figures.
The generator builds members in chunks of 100k (``synth.generator.DEFAULT_CHUNK_MEMBERS``), so
its peak RSS stays that of one chunk.

Prints figures; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAGES = ("generate", "ingest", "contracts", "features", "train", "score", "outputs", "report")
EXTRA = ("bare_scan", "shap_compare")


# ---------------------------------------------------------------- child side
def _settings(home: Path, landing: Path):
    from pipelines.resources import RiskstratSettings

    return RiskstratSettings(home=str(home), landing=str(landing))


def _selection(stage: str):
    import dagster as dg

    ingest = dg.AssetSelection.groups("ingest")
    return {
        "ingest": ingest.without_checks(),
        "contracts": ingest - ingest.without_checks(),
        "features": dg.AssetSelection.groups("core", "features"),
        "train": dg.AssetSelection.assets(["ml", "readmission_model"], ["ml", "high_need_model"]),
        "score": dg.AssetSelection.assets(["ml", "readmission_score"], ["ml", "high_need_score"]),
        "outputs": dg.AssetSelection.key_prefixes(["marts"]),
        "report": dg.AssetSelection.key_prefixes(["reports"]),
    }[stage]


def _run_stage(stage: str, home: Path, landing: Path, members: int) -> dict:
    if stage == "generate":
        from synth.generator import generate

        summary = generate(out_dir=landing, members=members, seed=7)
        return {"rows": sum(summary.rows.values())}
    if stage == "bare_scan":
        return _bare_scan(home)
    if stage == "shap_compare":
        return _shap_compare(home)

    import dagster as dg

    from data_contracts.landing import landing_months
    from pipelines.definitions import build_definitions
    from pipelines.partitions import execute_over_months

    defs = build_definitions(_settings(home, landing))
    job = dg.define_asset_job(f"bench_{stage}", selection=_selection(stage))
    resolved = dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def(job.name)
    months = landing_months(landing)
    success = execute_over_months(resolved, months, months[0], months[-1], raise_on_error=True).success
    return {"rows": _rows_for(stage, home), "success": success}


def _rows_for(stage: str, home: Path) -> int:
    import duckdb

    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        if stage in ("ingest", "contracts"):
            return int(con.execute(
                "SELECT coalesce(sum(rows_read), 0) FROM (SELECT rows_read, row_number() OVER "
                "(PARTITION BY extract, partition ORDER BY logged_at DESC) AS n FROM audit.ingest_log "
                "WHERE status = 'loaded') WHERE n = 1"
            ).fetchone()[0])
        return int(con.execute("SELECT count(*) FROM raw.medical_claim").fetchone()[0])


BARE_SCAN_SQL = """
SELECT count(*) FROM (
    SELECT person_id, count(*), sum(allowed_amount), max(claim_end_date) FROM raw.medical_claim GROUP BY 1
    UNION ALL SELECT person_id, count(*), sum(allowed_amount), max(dispensing_date) FROM raw.pharmacy_claim GROUP BY 1
    UNION ALL SELECT person_id, count(*), sum(result_value), max(result_date) FROM raw.lab_result GROUP BY 1
    UNION ALL SELECT person_id, count(*), 0, max(encounter_end_date) FROM raw.encounter GROUP BY 1
)
"""


def _bare_scan(home: Path) -> dict:
    import duckdb

    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        con.execute(BARE_SCAN_SQL).fetchone()
        return {"rows": int(con.execute("SELECT count(*) FROM raw.medical_claim").fetchone()[0])}


def _shap_compare(home: Path) -> dict:
    """Our reason codes against shap.TreeExplainer on the same rows of the same model."""
    import duckdb
    import shap

    from models.explain import top_reasons
    from models.store import load_model

    models_root = home / "models"
    cards = sorted(models_root.rglob("card.json"), key=lambda p: p.stat().st_mtime)
    model_dir = cards[-1].parent
    model = load_model(model_dir)
    table = "features.member_features" if "high_need" in model_dir.as_posix() else "features.readmission_stay"
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        frame = con.execute(f"SELECT * FROM {table} LIMIT 200000").pl()
    started = time.perf_counter()
    top_reasons(model.booster, frame, model.feature_names, k=3)
    ours = time.perf_counter() - started
    x = frame.select(model.feature_names).cast(float).to_numpy()
    started = time.perf_counter()
    shap.TreeExplainer(model.booster).shap_values(x)
    theirs = time.perf_counter() - started
    return {"rows": frame.height, "ours_s": ours, "tree_explainer_s": theirs}


# ---------------------------------------------------------------- parent side
def _measure(stage: str, home: Path, landing: Path, members: int, log: Path) -> dict:
    command = [sys.executable, __file__, "--child", stage, "--home", str(home), "--landing", str(landing),
               "--members", str(members)]
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with open(log, "w") as err:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, text=True)
        output = process.stdout.read().strip().splitlines()  # read before waiting: no pipe deadlock
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    base = {"members": members, "stage": stage, "seconds": seconds, "peak_rss_mb": usage.ru_maxrss / 1024}
    if status != 0 or not output:
        tail = log.read_text(errors="replace").strip().splitlines()[-5:]
        return {**base, "failed": True, "exit_status": status, "error": " | ".join(tail)}
    return {**base, **json.loads(output[-1])}


def _print_size(members: int, results: list[dict]) -> None:
    print(f"\n## {members:,} members")
    print("| stage | seconds | peak RSS (MB) | rows | rows/s |")
    print("|---|---:|---:|---:|---:|")
    for r in results:
        rate = r.get("rows", 0) / r["seconds"] if r["seconds"] else 0
        flag = " (failed)" if r.get("failed") else ""
        print(f"| {r['stage']}{flag} | {r['seconds']:.1f} | {r['peak_rss_mb']:.0f} | {r.get('rows', 0):,} | {rate:,.0f} |")
    for r in results:
        if r.get("failed"):
            print(f"- {r['stage']} failed (exit status {r['exit_status']}): {r['error']}")
    by = {r["stage"]: r for r in results}
    total = sum(by[s]["seconds"] for s in STAGES if s in by)
    peak = max(by[s]["peak_rss_mb"] for s in STAGES if s in by)
    print(f"| **whole run** | {total:.1f} | {peak:.0f} | | |")
    if "bare_scan" in by and "features" in by:
        print(f"- features / bare scan: {by['features']['seconds'] / by['bare_scan']['seconds']:.1f}x "
              f"({by['features']['seconds']:.1f} s vs {by['bare_scan']['seconds']:.1f} s)")
    if "contracts" in by and "ingest" in by:
        print(f"- contracts / ingest: {by['contracts']['seconds'] / by['ingest']['seconds']:.0%}")
    if "shap_compare" in by and not by["shap_compare"].get("failed"):
        s = by["shap_compare"]
        print(f"- SHAP reasons on {s['rows']:,} rows: ours {s['ours_s']:.2f} s, shap.TreeExplainer "
              f"{s['tree_explainer_s']:.2f} s (ratio {s['ours_s'] / s['tree_explainer_s']:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--workdir", default="")
    parser.add_argument("--keep", action="store_true", help="keep the generated data and warehouses")
    parser.add_argument("--child", choices=[*STAGES, *EXTRA], help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    parser.add_argument("--landing", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_run_stage(args.child, Path(args.home), Path(args.landing), args.members[0])))
        return
    root = Path(args.workdir or tempfile.mkdtemp(prefix="riskstrat-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    journal = root / "results.jsonl"
    by_size: dict[int, dict[str, dict]] = {}
    for members in args.members:
        home, landing = root / f"n{members}" / "home", root / f"n{members}" / "landing"
        shutil.rmtree(root / f"n{members}", ignore_errors=True)
        results = []
        for stage in (*STAGES[:4], "bare_scan", *STAGES[4:6], "shap_compare", *STAGES[6:]):
            results.append(_measure(stage, home, landing, members, root / "logs" / f"n{members}-{stage}.log"))
            with open(journal, "a") as fh:
                fh.write(json.dumps(results[-1]) + "\n")
            print(f"  {members:>9,} {stage:<13} {results[-1]['seconds']:7.1f} s "
                  f"{results[-1]['peak_rss_mb']:7.0f} MB{'  FAILED' if results[-1].get('failed') else ''}",
                  file=sys.stderr, flush=True)
        by_size[members] = {r["stage"]: r for r in results}
        _print_size(members, results)
        if not args.keep:
            shutil.rmtree(root / f"n{members}", ignore_errors=True)
    sizes = sorted(by_size)
    for small, large in zip(sizes, sizes[1:]):
        print(f"\n## scaling {large:,} / {small:,} members (x{large / small:.0f} = linear)")
        print("| stage | time ratio | peak RSS ratio |")
        print("|---|---:|---:|")
        for stage in (*STAGES, *EXTRA):
            a, b = by_size[small].get(stage), by_size[large].get(stage)
            if a and b and a["seconds"]:
                flag = " (failed at the larger size)" if b.get("failed") else ""
                print(f"| {stage}{flag} | {b['seconds'] / a['seconds']:.1f} | {b['peak_rss_mb'] / a['peak_rss_mb']:.1f} |")


if __name__ == "__main__":
    main()
