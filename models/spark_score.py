"""Scoring, reasons and the training sample on Spark (issue 16, step 2): the same functions as the
in-process path, run per partition.

``score_spark`` broadcasts the LightGBM model text and the card's calibrator, and each partition
runs ``models.score.raw_scores`` and ``models.score.scored_rows`` (raw booster prediction -> the
calibrator, TreeSHAP reasons through ``models.explain.top_reasons``) with ``mapInArrow``. The rows
explained are chosen over the whole frame, as ``models.score.explain_rows_mask`` chooses them in
process: the ``explain_top`` highest raw scores, ties broken by the frame's row order.

``sample_training_rows_spark`` draws on Spark the member-level, event-stratified sample of
``models.training.sample_training_rows`` and collects only those rows to the driver, where the
models are fitted as before.

pyspark is an optional extra (``pip install .[spark]``) and needs Java; it is imported only inside
the functions that use it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

import lightgbm as lgb
import numpy as np
import polars as pl
import pyarrow as pa

from features.dictionary import FeatureSpec
from models.calibration import Calibrator
from models.score import check_schema, raw_scores, scored_rows
from models.training import TRAIN_MAX_ROWS, TrainedModel, _member_key, sampled_record, sampling_record

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

# the frame's row order, kept through both passes so ties at the explained cut break as in process
ROW_COLUMN = "_score_row"
KEY_COLUMN = "_key"


def _rebuilt(payload: tuple[str, dict, list[str]]) -> TrainedModel:
    """The scoring half of a TrainedModel from the broadcast (model text, calibrator, features)."""
    text, calibrator, names = payload
    return TrainedModel(booster=lgb.Booster(model_str=text), calibrator=Calibrator.from_dict(calibrator),
                        feature_names=list(names), feature_dtypes={}, split={}, metrics={})


def _arrow_schema(schema) -> pa.Schema:
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(schema)


def score_spark(
    model: TrainedModel, frame: DataFrame, k: int = 3,
    id_columns: Sequence[str] = ("person_id", "stay_id", "discharge_date"), explain_top: int | None = None,
    current_features: Sequence[str] | None = None, dictionary: Mapping[str, FeatureSpec] | None = None,
) -> DataFrame:
    """``models.score.score_frame`` over a Spark DataFrame: the id columns, ``score``,
    ``score_raw`` and reason_1..k, reason_feature_1..k, reason_shap_1..k per row, as a lazy Spark
    DataFrame (row order not kept; join on the ids).

    Refuses a frame whose feature columns or dtypes differ from the card (``check_schema`` on the
    frame's schema). With ``explain_top``, a first pass scores every row and finds the
    ``explain_top``-th highest raw score (Spark's top-k, ties by row order); the second pass scores
    again and explains the rows at or above that cut. The frame is read twice: cache it when it is
    expensive to recompute, and give it a stable row order (its partitions and their order must be
    the same on both passes: a table or file scan is; a shuffle without an order is not).
    """
    from pyspark.sql import functions as F

    check_schema(model, pl.from_arrow(frame.limit(0).toArrow()), current_features)
    spark = frame.sparkSession
    payload = spark.sparkContext.broadcast((model.booster.model_to_string(), model.calibrator.to_dict(),
                                            list(model.feature_names)))
    ids = [c for c in id_columns if c in frame.columns]
    rows = frame.select(*ids, *model.feature_names).withColumn(ROW_COLUMN, F.monotonically_increasing_id())

    cut: tuple[float, int] | None = None  # (raw score, row) of the last row explained; None: every row
    if explain_top is not None and explain_top <= 0:
        cut = (np.inf, -1)
    elif explain_top is not None:
        def raw_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            scorer = _rebuilt(payload.value)
            for batch in batches:
                part = pl.from_arrow(batch)
                yield pa.RecordBatch.from_pydict({ROW_COLUMN: part[ROW_COLUMN].to_arrow(),
                                                  "score_raw": pa.array(raw_scores(scorer, part), pa.float64())})

        raws = rows.mapInArrow(raw_batches, f"{ROW_COLUMN} long, score_raw double")
        last = (raws.orderBy(F.col("score_raw").desc(), F.col(ROW_COLUMN).asc())
                .offset(explain_top - 1).limit(1).collect())
        if last:  # fewer rows than explain_top: every row
            cut = (float(last[0]["score_raw"]), int(last[0][ROW_COLUMN]))

    template = pl.from_arrow(rows.limit(0).toArrow())
    empty = scored_rows(model, template, np.empty(0), np.zeros(0, dtype=bool), k=k, id_columns=ids,
                        dictionary=dictionary)
    out_schema = _spark_schema(empty, frame, ids)
    arrow_out = _arrow_schema(out_schema)

    def score_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        scorer = _rebuilt(payload.value)
        for batch in batches:
            if batch.num_rows == 0:
                continue
            part = pl.from_arrow(batch)
            raw = raw_scores(scorer, part)
            explain = np.ones(len(raw), dtype=bool)
            if cut is not None:
                position = part[ROW_COLUMN].to_numpy()
                explain = (raw > cut[0]) | ((raw == cut[0]) & (position <= cut[1]))
            scored = scored_rows(scorer, part, raw, explain, k=k, id_columns=ids, dictionary=dictionary)
            yield from scored.to_arrow().cast(arrow_out).to_batches()

    return rows.mapInArrow(score_batches, out_schema)


def _spark_schema(empty: pl.DataFrame, frame: DataFrame, ids: Sequence[str]):
    """The Spark schema of ``score_spark``'s output: the id columns as typed in ``frame``, then the
    score and reason columns typed as ``scored_rows`` returns them."""
    from pyspark.sql.pandas.types import from_arrow_schema
    from pyspark.sql.types import StructType

    scores = from_arrow_schema(empty.drop(ids).to_arrow().schema)
    return StructType([frame.schema[c] for c in ids] + list(scores.fields))


def sample_training_rows_spark(
    frame: DataFrame, label: str, member_column: str = "person_id", max_rows: int = TRAIN_MAX_ROWS, seed: int = 7,
) -> tuple[pl.DataFrame, dict]:
    """The rows ``models.training.sample_training_rows`` keeps, drawn on Spark and collected to the
    driver as a polars frame (row order not kept), with the same record for the model card: hand
    both to ``models.training.fit_task`` (the rows as ``parts['train']``, the record as
    ``sampled_by_caller``) so the card says the model was fitted on a sample, and of how many rows.

    Up to ``max_rows`` rows every row is collected. Above, whole members: two strata (a member with
    or without an event), each keeping ``stratum rows * max_rows // rows`` rows, members taken in
    the order of the same seeded sha256 key (``models.training._member_key``, run per partition)
    while the stratum's running row count stays within its share; only those members' rows leave
    the cluster. The running count is a window per stratum, so each stratum's member list (one row
    per member: id, row count, key) is ordered in one task.

    ``max_rows`` defaults to ``TRAIN_MAX_ROWS`` (100,000 rows), chosen from the 200k-member learning
    curve in docs/models.md, "Training at scale": test AUROC and log loss are flat from about 64k
    training rows on, so a bigger cluster does not need a bigger sample on the driver.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F
    from pyspark.sql.types import LongType, StructField, StructType

    y = F.col(label).cast("long")
    n, events = frame.agg(F.count(F.lit(1)), F.coalesce(F.sum(y), F.lit(0))).first()
    record = sampling_record(int(n), int(events), max_rows, seed)
    if n <= max_rows:
        return pl.from_arrow(frame.toArrow()), record
    if member_column not in frame.columns:
        raise ValueError(f"training rows ({n}) exceed max_rows {max_rows} and the frame has no member column "
                         f"{member_column!r} to sample whole members by")

    def keyed(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            keys = [_member_key(m, seed) for m in batch.column(member_column).to_pylist()]
            yield batch.append_column(KEY_COLUMN, pa.array(keys, pa.int64()))

    members = frame.groupBy(member_column).agg(
        F.count(F.lit(1)).alias("_rows"), (F.max(y) > 0).alias("_stratum"))
    keyed_schema = StructType([*members.schema.fields, StructField(KEY_COLUMN, LongType(), nullable=False)])
    members = members.mapInArrow(keyed, keyed_schema).persist()
    try:
        counts = members.groupBy("_stratum").agg(F.sum("_rows").alias("rows"), F.count(F.lit(1)).alias("members"))
        strata = {bool(r["_stratum"]): (int(r["rows"]), int(r["members"])) for r in counts.collect()}
        # each stratum's share of max_rows, as sample_training_rows computes it
        quota = {s: rows * max_rows // n for s, (rows, _) in strata.items()}
        running = F.sum("_rows").over(Window.partitionBy("_stratum").orderBy(KEY_COLUMN)
                                      .rowsBetween(Window.unboundedPreceding, Window.currentRow))
        share = F.when(F.col("_stratum"), F.lit(quota.get(True, 0))).otherwise(F.lit(quota.get(False, 0)))
        kept = members.withColumn("_cum_rows", running).filter(F.col("_cum_rows") <= share).select(member_column)
        sample = pl.from_arrow(frame.join(kept, on=member_column, how="left_semi").select(*frame.columns).toArrow())
    finally:
        members.unpersist()
    sampled_members = sample.select(member_column, (pl.col(label).cast(pl.Int64).max() > 0).over(member_column)
                                    .alias("_stratum")).unique(member_column)
    record |= sampled_record(
        int(n), int(events), sample.height, int(sample[label].cast(pl.Int64).sum()), sum(m for _, m in strata.values()),
        sampled_members.height, strata.get(True, (0, 0))[1], int(sampled_members["_stratum"].sum()), max_rows)
    return sample, record


def score_member_snapshot(
    spark, model: TrainedModel, table: str, as_of, *, explain_top: int,
    current_features: Sequence[str] | None = None, dictionary: Mapping[str, FeatureSpec] | None = None,
) -> DataFrame:
    """The high-need score of one member snapshot of ``table`` (``as_of_date = as_of``) on Spark, as
    the score step computes it in process: ``score_spark`` over the snapshot in person_id order
    (checkpointed once, so both passes read the same partitions and ties at the explained cut break
    by person_id, as in process). Lazy: write it where the caller reads it (every member's row; not
    through the driver)."""
    from pyspark.sql import functions as F

    snapshot = (spark.table(table).where(F.col("as_of_date") == F.lit(as_of)).orderBy("person_id")
                .localCheckpoint(eager=True))
    return score_spark(model, snapshot, id_columns=("person_id", "as_of_date"), explain_top=explain_top,
                       current_features=current_features, dictionary=dictionary)


def high_need_parts_spark(
    spark, table: str, plan, label: str, max_rows: int = TRAIN_MAX_ROWS, seed: int = 7,
) -> tuple[dict[str, pl.DataFrame], dict[str, str], dict]:
    """``models.high_need.split_snapshots`` on Spark, with the training part sampled there: only the
    sampled training rows (``sample_training_rows_spark``), the calibration and the test snapshot
    reach the driver, each in (as_of_date, person_id) order as in process. The held-out calibration
    members are the same sha256 rule (``models.timesplit.calibration_cut``) in Spark SQL. Returns the
    parts, the split description and the sampling record for ``fit_high_need_parts(sampled_by_caller=...)``."""
    from pyspark.sql import functions as F

    from models.high_need import DATE_COLUMN, check_planned_dates
    from models.timesplit import calibration_cut

    frame = spark.table(table)
    wanted = [*plan.train, plan.calibration, plan.test]
    present = {r[0] for r in frame.where(F.col(DATE_COLUMN).isin(wanted)).select(DATE_COLUMN).distinct().collect()}
    check_planned_dates(present, plan)
    hashed = F.conv(F.substring(F.sha2(F.col("person_id"), 256), 1, 8), 16, 10).cast("long")
    held_out = (hashed % 1000) < F.lit(calibration_cut(plan.calibration_share))
    labelled = frame.where(F.col(DATE_COLUMN).isin(wanted) & F.col(label).isNotNull())

    def collected(rows) -> pl.DataFrame:
        return pl.from_arrow(rows.toArrow()).sort(DATE_COLUMN, "person_id")

    train_rows = labelled.where(F.col(DATE_COLUMN).isin(list(plan.train)) & ~held_out)
    sample, record = sample_training_rows_spark(train_rows, label, "person_id", max_rows, seed)
    parts = {
        "train": sample.sort(DATE_COLUMN, "person_id"),
        "calibration": collected(labelled.where((F.col(DATE_COLUMN) == F.lit(plan.calibration)) & held_out)),
        "test": collected(labelled.where(F.col(DATE_COLUMN) == F.lit(plan.test))),
    }
    return parts, plan.as_dict() | {"label": label}, record
