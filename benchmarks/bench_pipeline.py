"""Time and peak memory of every pipeline stage at several population sizes.

    python benchmarks/bench_pipeline.py --members 10000 100000 [--workdir DIR] [--keep]
        [--duckdb-memory-limit 4GB] [--duckdb-threads N] [--engine duckdb spark] [--spark-driver-memory 8g]

With ``--engine duckdb spark`` each size is generated once and run through every stage on each
engine in turn (its own warehouse), then printed side by side. Peak memory is the stage's whole
process tree (sampled every 0.5 s; Spark's JVM is a child of the stage's Python process), never below
the Python process's exact peak.

Each stage runs in its own child process (so its peak RSS is its own, read from
``os.wait4``) against one warehouse, in pipeline order: generate, ingest, contracts,
features, train, score (+ SHAP reasons), outputs (intake list + KPIs), report. Ratios
measured in the same run, so machine noise cancels:

- features / bare scan: the feature stage against one DuckDB scan-and-aggregate of the
  same claims, encounters and labs (the floor for reading the data once);
- our SHAP reasons / shap.TreeExplainer on the same rows and model;
- contracts / ingest: the great-expectations checks against the ingestion they guard.

Between consecutive sizes it prints the ratio of every stage's time and peak RSS (1M / 100k
with ``--members 100000 1000000``). Each child's stderr goes to ``<workdir>/logs/`` and every
measurement is appended to ``<workdir>/results.jsonl`` as soon as it is taken, so a run that dies
part-way keeps its figures. The generator builds members in chunks of 100k
(``synth.generator.DEFAULT_CHUNK_MEMBERS``), so its peak RSS stays that of one chunk.

A stage that fails stops its population size: the run prints one line naming the stage, the SQL
statement it stopped in (the file DuckDB errors carry as a note) and the error, skips the stages
that need it, and exits with status 1 once every size is done. Each size's table also states the
DuckDB memory limit, threads and spill directory the warehouse connections ran with.

Prints figures; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAGES = ("generate", "ingest", "contracts", "features", "train", "score", "outputs", "report")
EXTRA = ("bare_scan", "shap_compare")


# ---------------------------------------------------------------- child side
def _engine():
    from pipelines.resources import SqlEngine

    name = os.environ.get("BENCH_ENGINE", "duckdb")
    memory = os.environ.get("BENCH_SPARK_DRIVER_MEMORY")
    return SqlEngine(name=name, **({"spark_driver_memory": memory} if memory else {}))


def _settings(home: Path, landing: Path):
    from pipelines.resources import RiskstratSettings

    overrides = {k: v for k, v in (("duckdb_memory_limit", os.environ.get("BENCH_DUCKDB_MEMORY_LIMIT")),
                                   ("duckdb_threads", os.environ.get("BENCH_DUCKDB_THREADS"))) if v}
    return RiskstratSettings(home=str(home), landing=str(landing), **overrides)


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

    defs = build_definitions(_settings(home, landing), _engine())
    job = dg.define_asset_job(f"bench_{stage}", selection=_selection(stage))
    resolved = dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def(job.name)
    months = landing_months(landing)
    result = execute_over_months(resolved, months, months[0], months[-1], raise_on_error=False)
    if not result.success:
        raise StageFailed(*_step_failure(result))
    return {"rows": _rows_for(stage, home), "success": True, "duckdb": _duckdb_settings(home, landing),
            "engine": _engine().name, **_spark_times(result)}


SPARK_TIMES = ("spark_sql_ms", "landing_ms", "hcc_python_ms")


def _spark_times(result) -> dict[str, int]:
    """Under the Spark engine, the stage's milliseconds on Spark SQL, landing tables in DuckDB and the
    HCC scores in Python, summed over its steps' metadata (features.spark_landing)."""
    totals: dict[str, int] = {}
    for event in result.get_asset_materialization_events():
        metadata = event.materialization.metadata
        for key in SPARK_TIMES:
            if key in metadata:
                totals[key] = totals.get(key, 0) + int(metadata[key].value)
    return totals


class StageFailed(Exception):
    """A Dagster step of the stage failed: ``statement`` says where, ``error`` what."""

    def __init__(self, statement: str, error: str):
        super().__init__(f"{statement}: {error}")
        self.statement, self.error = statement, error


def _step_failure(result) -> tuple[str, str]:
    """The first failed step, the SQL file its error notes (features.sqlfiles.naming), and the
    innermost error of its chain, from the run's step-failure events."""
    event = result.get_step_failure_events()[0]
    chain, info = [], event.event_specific_data.error
    while info is not None:
        chain.append(info)
        info = info.cause or info.context
    text = "\n".join(e.message for e in chain)
    note = re.search(r"in features/sql/\S+\.sql(?: \([^)]*\))?", text)
    root = chain[-1] if chain else None
    message = root.message.strip().splitlines()[0] if root and root.message.strip() else ""
    if root and not message.startswith(root.cls_name) and f".{root.cls_name}:" not in message:
        message = f"{root.cls_name}: {message}"
    return f"step {event.step_key}" + (f", {note.group(0)}" if note else ""), message or "no error recorded"


def _duckdb_settings(home: Path, landing: Path) -> dict[str, str]:
    """What a warehouse connection of the pipeline runs with, read back from DuckDB itself."""
    with _settings(home, landing).connect(read_only=True) as con:
        row = con.execute("SELECT current_setting('memory_limit'), current_setting('threads'), "
                          "current_setting('temp_directory')").fetchone()
    return {"memory_limit": str(row[0]), "threads": str(row[1]), "temp_directory": str(row[2])}


def _failure(exc: BaseException) -> dict:
    """The failing statement and the error of a stage, from the exception chain: the innermost
    error and the SQL file noted on it (features.sqlfiles.naming), else the Dagster step."""
    if isinstance(exc, StageFailed):
        return {"failed": True, "statement": exc.statement, "error": exc.error}
    chain, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    root = chain[-1]
    notes = [note for e in chain for note in getattr(e, "__notes__", [])]
    step = next((getattr(e, "step_key", None) for e in chain if getattr(e, "step_key", None)), None)
    message = str(root).strip().splitlines()[0] if str(root).strip() else ""
    return {"failed": True, "statement": notes[0] if notes else (f"step {step}" if step else "?"),
            "error": f"{type(root).__name__}: {message}"}


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
def _tree_rss_kb(root: int) -> int:
    """Resident memory of ``root`` and every process below it (Spark's JVM is a child of the stage's
    Python process, which ``os.wait4``'s peak of the Python process alone would miss)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        total += int(match.group(1)) if match else 0
    return total


class _TreePeak:
    """The largest summed RSS of a process tree, sampled every ``interval`` seconds in a thread."""

    def __init__(self, pid: int, interval: float = 0.5):
        import threading

        self.pid, self.interval, self.peak_kb = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, _tree_rss_kb(self.pid))
            self._stop.wait(self.interval)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak_kb


def _measure(stage: str, home: Path, landing: Path, members: int, log: Path, env: dict[str, str]) -> dict:
    command = [sys.executable, __file__, "--child", stage, "--home", str(home), "--landing", str(landing),
               "--members", str(members)]
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with open(log, "w") as err:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, text=True, env={**os.environ, **env})
        tree = _TreePeak(process.pid)
        output = process.stdout.read().strip().splitlines()  # read before waiting: no pipe deadlock
        tree_kb = tree.stop()
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    # the process tree's sampled peak (a Spark stage's JVM included), never below the exact peak of
    # the Python process itself
    base = {"members": members, "stage": stage, "seconds": seconds, "engine": env.get("BENCH_ENGINE", "duckdb"),
            "peak_rss_mb": max(usage.ru_maxrss, tree_kb) / 1024, "python_peak_rss_mb": usage.ru_maxrss / 1024}
    report = _last_json(output)
    if status != 0 or report is None or report.get("failed"):
        if report is None or not report.get("failed"):  # died without a report (killed, crashed)
            tail = [line for line in log.read_text(errors="replace").strip().splitlines() if line.strip()][-1:]
            report = {"failed": True, "statement": "?", "error": tail[0] if tail else f"exit status {status}"}
        return {**base, **report, "exit_status": status}
    return {**base, **report}


def _last_json(lines: list[str]) -> dict | None:
    try:
        return json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        return None


def _failure_line(r: dict) -> str:
    return f"FAILED {r['members']:,} members, stage {r['stage']}: {r.get('statement', '?')}: {r.get('error', '')}"


def _print_size(members: int, results: list[dict], engine: str = "duckdb") -> None:
    print(f"\n## {members:,} members, {engine}")
    print("| stage | seconds | peak RSS (MB) | rows | rows/s |")
    print("|---|---:|---:|---:|---:|")
    for r in results:
        rate = r.get("rows", 0) / r["seconds"] if r["seconds"] else 0
        flag = " (failed)" if r.get("failed") else ""
        print(f"| {r['stage']}{flag} | {r['seconds']:.1f} | {r['peak_rss_mb']:.0f} | {r.get('rows', 0):,} | {rate:,.0f} |")
    for r in results:
        if r.get("failed"):
            print(f"- {_failure_line(r)}")
    for r in results:
        if r.get("landing_ms") is not None:
            print(f"- {r['stage']} on Spark: Spark SQL {r.get('spark_sql_ms', 0) / 1000:.1f} s, landing in DuckDB "
                  f"{r['landing_ms'] / 1000:.1f} s, HCC in Python {r.get('hcc_python_ms', 0) / 1000:.1f} s")
    settings = {json.dumps(r["duckdb"], sort_keys=True) for r in results if r.get("duckdb")}
    for one in sorted(settings):
        d = json.loads(one)
        print(f"- DuckDB: memory_limit {d['memory_limit']}, threads {d['threads']}, temp_directory {d['temp_directory']}")
    by = {r["stage"]: r for r in results if not r.get("failed")}
    total = sum(r["seconds"] for r in results if r["stage"] in STAGES)
    peak = max((r["peak_rss_mb"] for r in results if r["stage"] in STAGES), default=0)
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
    parser.add_argument("--duckdb-memory-limit", default="",
                        help="DuckDB memory limit of the warehouse connections (default: the pipeline's setting)")
    parser.add_argument("--duckdb-threads", type=int, default=0,
                        help="DuckDB threads (default 0: the pipeline's rule, sized to the memory limit)")
    parser.add_argument("--engine", nargs="+", choices=["duckdb", "spark"], default=["duckdb"],
                        help="SQL engine(s) to run each size on, in turn, from the same landing folder "
                             "(docs/scaling.md); e.g. --engine duckdb spark")
    parser.add_argument("--spark-driver-memory", default="",
                        help="Spark driver memory for --engine spark (default: the pipeline's, 4g)")
    parser.add_argument("--child", choices=[*STAGES, *EXTRA], help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    parser.add_argument("--landing", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        try:
            print(json.dumps(_run_stage(args.child, Path(args.home), Path(args.landing), args.members[0])))
        except BaseException as exc:  # the parent reads the failing statement from this line
            print(json.dumps(_failure(exc)), flush=True)
            raise
        return
    root = Path(args.workdir or tempfile.mkdtemp(prefix="riskstrat-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    journal = root / "results.jsonl"
    env = {k: v for k, v in (("BENCH_DUCKDB_MEMORY_LIMIT", args.duckdb_memory_limit),
                             ("BENCH_DUCKDB_THREADS", str(args.duckdb_threads or "")),
                             ("BENCH_SPARK_DRIVER_MEMORY", args.spark_driver_memory)) if v}
    engines = list(dict.fromkeys(args.engine))
    by_size: dict[tuple[int, str], dict[str, dict]] = {}
    failures: list[dict] = []
    for members in args.members:
        landing = root / f"n{members}" / "landing"
        shutil.rmtree(root / f"n{members}", ignore_errors=True)
        for position, engine in enumerate(engines):
            home = root / f"n{members}" / engine / "home"
            # one landing folder per size for every engine; the DuckDB floor (bare scan) and the SHAP
            # comparison do not depend on the engine and run with the first one only
            stages = (*STAGES[:4], "bare_scan", *STAGES[4:6], "shap_compare", *STAGES[6:])
            if position:
                stages = STAGES[1:]
            results = []
            for stage in stages:
                results.append(_measure(stage, home, landing, members, root / "logs" / f"n{members}-{engine}-{stage}.log",
                                        {**env, "BENCH_ENGINE": engine}))
                with open(journal, "a") as fh:
                    fh.write(json.dumps(results[-1]) + "\n")
                print(f"  {members:>9,} {engine:<6} {stage:<13} {results[-1]['seconds']:7.1f} s "
                      f"{results[-1]['peak_rss_mb']:7.0f} MB{'  FAILED' if results[-1].get('failed') else ''}",
                      file=sys.stderr, flush=True)
                if results[-1].get("failed"):
                    failures.append(results[-1])
                    print(_failure_line(results[-1]), file=sys.stderr, flush=True)
                    if stage in STAGES:  # later stages need this one's tables
                        break
            generated = by_size.get((members, engines[0]), {}).get("generate")
            if position and generated:  # the generate stage the first engine ran, for the whole-run total
                results.insert(0, generated)
            by_size[(members, engine)] = {r["stage"]: r for r in results}
            _print_size(members, results, engine)
        if len(engines) > 1:
            _print_engines(members, engines, by_size)
        if not args.keep:
            shutil.rmtree(root / f"n{members}", ignore_errors=True)
    sizes = sorted(args.members)
    for engine in engines:
        for small, large in zip(sizes, sizes[1:]):
            a_size, b_size = by_size.get((small, engine), {}), by_size.get((large, engine), {})
            print(f"\n## scaling {large:,} / {small:,} members, {engine} (x{large / small:.0f} = linear)")
            print("| stage | time ratio | peak RSS ratio |")
            print("|---|---:|---:|")
            for stage in (*STAGES, *EXTRA):
                a, b = a_size.get(stage), b_size.get(stage)
                if a and b and a["seconds"]:
                    flag = " (failed at the larger size)" if b.get("failed") else ""
                    print(f"| {stage}{flag} | {b['seconds'] / a['seconds']:.1f} | {b['peak_rss_mb'] / a['peak_rss_mb']:.1f} |")
    for r in failures:
        print(_failure_line(r))
    if failures:
        sys.exit(1)


def _print_engines(members: int, engines: list[str], by_size: dict[tuple[int, str], dict[str, dict]]) -> None:
    """Each stage's time and peak memory per engine, side by side, with each engine's ratio to the first."""
    first = engines[0]
    print(f"\n## {members:,} members: engines side by side (ratio = engine / {first}, same invocation)")
    print("| stage | " + " | ".join(f"{e} s | {e} MB" for e in engines) + " | "
          + " | ".join(f"{e}/{first} time" for e in engines[1:]) + " |")
    print("|---|" + "---:|---:|" * len(engines) + "---:|" * (len(engines) - 1))
    for stage in STAGES[1:]:
        cells, ratios = [], []
        for e in engines:
            r = by_size.get((members, e), {}).get(stage)
            cells.append(f"{r['seconds']:.1f} | {r['peak_rss_mb']:.0f}" if r else "- | -")
        base = by_size.get((members, first), {}).get(stage)
        for e in engines[1:]:
            r = by_size.get((members, e), {}).get(stage)
            ratios.append(f"{r['seconds'] / base['seconds']:.1f}" if r and base and base["seconds"] else "-")
        print(f"| {stage} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")


if __name__ == "__main__":
    main()
