"""DuckDB and Spark build every table of the feature, label and KPI SQL from the same raw tables;
time per stage beside each other and every table compared (issue 16).

    python benchmarks/bench_spark_equality.py --members 1500 20000 [--workdir DIR] [--seed 11]

Per size: generate 36 months (seed 11) as Parquet, load into DuckDB, then in the assets' order on
DuckDB (features.* builders) and on a local[2] Spark session (features.spark_engine): core tables
and readmission features, member features for the high-need snapshot plan, the program-effect
cohort, the SQL-built KPIs. Python inputs (hccinfhir scores, a stand-in expected risk and two
earlier lists) are computed once and handed to both. Prints one table per size: rows, whether the
table is equal (compare_tables) and the largest relative difference of its floats; then the times
and the load average before and after. Asserts nothing about time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

AS_OF = dt.date(2026, 1, 1)
LIST_DATES = (dt.date(2025, 6, 1), dt.date(2025, 9, 1))


def load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def run(members: int, seed: int, workdir: Path) -> None:
    from features.coverage import warehouse_month_coverage
    from features.kpi import build_kpi_readmission_monthly, build_program_kpis
    from features.member import build_member_dataset
    from features.readmission import build_readmission_dataset
    from features.spark_engine import (
        PYTHON_COLUMNS, TABLE_KEYS, SparkSettings, build_kpis, build_member_features,
        build_program_effect_cohort, build_readmission_slice, compare_tables, export_raw_parquet,
        max_relative_difference, register_raw, spark_session, spark_table,
    )
    from models.program_effect import build_program_effect_cohort as duck_cohort
    from models.timesplit import high_need_snapshots
    from synth.generator import generate

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "features"))
    from generated import EXTRACTS, build_core, load_population, stand_in_inputs

    root = workdir / f"m{members}"
    if not (root / "landing" / "_oracle").is_dir():
        generate(root / "landing", members=members, seed=seed, months=36, file_format="parquet")
    load_before = load()
    times: dict[str, list[float]] = {}

    def timed(stage: str, engine: int, fn, *args, **kwargs):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        times.setdefault(stage, [0.0, 0.0])[engine] += time.perf_counter() - t0
        return out

    con = load_population(root / "landing")
    timed("core + readmission", 0, lambda: (build_core(con), build_readmission_dataset(con, AS_OF)))
    start = con.execute("SELECT min(claim_start_date) FROM raw.medical_claim").fetchone()[0]
    dates = high_need_snapshots(AS_OF, start).all_dates()
    timed("member features", 0, build_member_dataset, con, dates, data_end=AS_OF)
    timed("program-effect cohort", 0, duck_cohort, con, AS_OF, 7, recent_from=AS_OF - dt.timedelta(days=60))
    inputs = stand_in_inputs(con, LIST_DATES)
    timed("KPIs", 0, lambda: (build_kpi_readmission_monthly(con, AS_OF), build_program_kpis(con, AS_OF, expected=inputs.expected)))

    timed("export Parquet / Spark start", 0, export_raw_parquet, con, root / "parquet", EXTRACTS)
    spark = timed("export Parquet / Spark start", 1, spark_session, SparkSettings(warehouse=root / "warehouse"))
    register_raw(spark, root / "parquet", EXTRACTS)
    timed("core + readmission", 1, build_readmission_slice, spark, AS_OF)
    timed("member features", 1, build_member_features, spark, dates, AS_OF, inputs.member_hcc)
    timed("program-effect cohort", 1, build_program_effect_cohort, spark, AS_OF, recent_from=AS_OF - dt.timedelta(days=60))
    coverage = timed("KPIs", 1, build_kpis, spark, AS_OF, expected=inputs.expected, list_history=inputs.list_history)
    load_after = load()

    print(f"\n## {members:,} members (seed {seed}, 36 months, as-of {AS_OF}, member as-of dates "
          f"{', '.join(d.isoformat() for d in dates)})\n")
    print("| table | rows | equal | max relative difference |\n|---|---|---|---|")
    frames = {t: (con.execute(f"SELECT * FROM {t}").pl().drop(PYTHON_COLUMNS.get(t, [])), spark_table(spark, t))
              for t in TABLE_KEYS}
    frames["audit.month_coverage"] = (warehouse_month_coverage(con), coverage)
    for table, (duck, other) in frames.items():
        keys = TABLE_KEYS.get(table, ["month"])
        problems = compare_tables(duck, other, keys)
        verdict = "yes" if not problems else "; ".join(problems)
        diff = max_relative_difference(duck, other, keys)
        print(f"| {table} | {frames[table][0].height:,} | {verdict} | {diff:.1e} |")
    print("\n| stage | DuckDB s | Spark s |\n|---|---|---|")
    for stage, (d, s) in times.items():
        print(f"| {stage} | {d:.1f} | {s:.1f} |")
    print(f"\nload average (1 min) {load_before} -> {load_after}; Spark local[2], 2g driver")
    spark.stop()
    con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, nargs="+", default=[1500])
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_spark_"))
    for members in args.members:
        run(members, args.seed, workdir)


if __name__ == "__main__":
    main()
