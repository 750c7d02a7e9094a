"""Scoring throughput: the high-need as-of snapshot scored in process vs on Spark, same invocation.

    python benchmarks/bench_spark_score.py --home DIR/home [--explain-share 0.05] [--master local[2]] \
        [--work /tmp/bench_spark_score]

Reads the snapshot (``features.member_features`` at its latest as-of date) and the promoted
high-need model from ``--home``; scores it with ``models.score.score_frame`` (polars, in process)
and with ``models.spark_score.score_spark`` over the snapshot written as Parquet and read back by
Spark (a file scan, as on a cluster), reasons for the top ``--explain-share`` of rows both ways.
The Spark run is timed twice (the first includes starting the Python workers) and written to
Spark's ``noop`` sink, so every row is scored and explained but nothing is collected. Prints rows,
seconds and rows/s for each, and whether the scores are equal; asserts nothing (not a CI test).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--explain-share", type=float, default=0.05)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_spark_score"))
    args = parser.parse_args()

    import duckdb
    import polars as pl

    from features.spark_engine import SparkSettings, spark_session
    from models.high_need import HIGH_NEED_TABLE, member_dictionary
    from models.score import score_frame
    from models.spark_score import score_spark
    from models.store import load_model

    model_root = args.home / "models" / "high_need"
    model = load_model(model_root / (model_root / "CURRENT").read_text().strip())
    with duckdb.connect(str(args.home / "warehouse.duckdb"), read_only=True) as con:
        snapshot = con.execute(f"SELECT * FROM {HIGH_NEED_TABLE} WHERE as_of_date = "
                               f"(SELECT max(as_of_date) FROM {HIGH_NEED_TABLE})").pl()
    explain_top = int(args.explain_share * snapshot.height)
    dictionary = member_dictionary()
    print(f"snapshot: {snapshot.height} rows, {len(model.feature_names)} features, "
          f"{model.booster.num_trees()} trees; reasons for the top {explain_top}")

    start = time.perf_counter()
    local = score_frame(model, snapshot, id_columns=("person_id", "as_of_date"), explain_top=explain_top,
                        dictionary=dictionary)
    seconds = time.perf_counter() - start
    print(f"in process: {seconds:.2f} s, {snapshot.height / seconds:,.0f} rows/s")

    args.work.mkdir(parents=True, exist_ok=True)
    parquet = args.work / "snapshot.parquet"
    snapshot.write_parquet(parquet, row_group_size=10_000)  # splittable: Spark reads it in parallel
    start = time.perf_counter()
    spark = spark_session(SparkSettings(warehouse=args.work / "warehouse", master=args.master))
    print(f"spark session ({args.master}): {time.perf_counter() - start:.1f} s to start")
    frame = spark.read.parquet(str(parquet))
    for attempt in (1, 2):
        start = time.perf_counter()
        score_spark(model, frame, id_columns=("person_id", "as_of_date"), explain_top=explain_top,
                    dictionary=dictionary).write.format("noop").mode("overwrite").save()
        seconds = time.perf_counter() - start
        print(f"spark run {attempt}: {seconds:.2f} s, {snapshot.height / seconds:,.0f} rows/s "
              f"({frame.rdd.getNumPartitions()} input partitions)")
    remote = pl.from_arrow(score_spark(model, frame, id_columns=("person_id", "as_of_date"), explain_top=explain_top,
                                       dictionary=dictionary).toArrow())
    both = local.join(remote, on=["person_id", "as_of_date"], suffix="_spark")
    explained = both.filter(pl.col("reason_1").is_not_null())
    print(f"rows matched {both.height} of {local.height}; max |score difference| "
          f"{(both['score'] - both['score_spark']).abs().max():.3g}; explained {explained.height}, same first "
          f"reason on all: {explained['reason_1'].eq_missing(explained['reason_1_spark']).all()}")
    spark.stop()


if __name__ == "__main__":
    main()
