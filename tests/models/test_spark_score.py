"""Scoring on Spark equals scoring in process (issue 16, step 2): the models a real pipeline run
saved score features.readmission_stay and the as-of snapshot of features.member_features through
models.score (polars) and through models.spark_score (a Spark DataFrame of the same rows, several
partitions): the same scores to 1e-12 and the same reasons in the same order on the explained rows.
The Spark training sample keeps exactly the rows models.training.sample_training_rows keeps."""

from __future__ import annotations

import os
import shutil

import duckdb
import numpy as np
import polars as pl
import pytest

pytest.importorskip("pyspark", reason="pyspark is in the optional 'spark' extra (pip install .[spark])")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("Spark needs Java 17+ (no java on PATH, no JAVA_HOME)", allow_module_level=True)

from features.dictionary import MODEL_FEATURES  # noqa: E402
from features.readmission import READMISSION_TABLE  # noqa: E402
from features.spark_engine import SparkSettings, spark_session  # noqa: E402
from models.high_need import HIGH_NEED_TABLE, member_dictionary, member_features  # noqa: E402
from models.score import score_frame  # noqa: E402
from models.spark_score import sample_training_rows_spark, score_spark  # noqa: E402
from models.store import load_model  # noqa: E402
from models.training import TRAIN_MAX_ROWS, sample_training_rows  # noqa: E402

pytestmark = pytest.mark.slow
TOLERANCE = 1e-12


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    session = spark_session(SparkSettings(warehouse=tmp_path_factory.mktemp("spark_score")))
    yield session
    session.stop()


def _saved_model(home, task: str):
    pointer = home / "models" / task / "CURRENT"
    assert pointer.exists(), f"the pipeline run saved no {task} model"
    return load_model(home / "models" / task / pointer.read_text().strip())


def _spark_frame(spark, frame: pl.DataFrame):
    """The same rows in the same order, over more than one partition."""
    sdf = spark.createDataFrame(frame.to_arrow(compat_level=pl.CompatLevel.oldest()))
    assert sdf.rdd.getNumPartitions() > 1
    return sdf


TASKS = {
    # readmission: every stay explained (as ml.readmission_score); high need: the top 5% of the snapshot
    "readmission": (f"SELECT * FROM {READMISSION_TABLE} ORDER BY stay_id", ("person_id", "stay_id", "discharge_date"),
                    None, MODEL_FEATURES, None),
    "high_need": (f"SELECT * FROM {HIGH_NEED_TABLE} WHERE as_of_date = (SELECT max(as_of_date) FROM {HIGH_NEED_TABLE}) "
                  "ORDER BY person_id", ("person_id", "as_of_date"), 0.05, member_features(), member_dictionary()),
}


@pytest.mark.parametrize("task", sorted(TASKS))
def test_spark_scores_and_reasons_equal_in_process(generated_run, spark, task):
    _, home = generated_run
    sql, ids, share, features, dictionary = TASKS[task]
    model = _saved_model(home, task)
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        frame = con.execute(sql).pl()
    explain_top = None if share is None else int(share * frame.height)
    assert frame.height > 200, "too few rows to prove anything"

    local = score_frame(model, frame, id_columns=ids, explain_top=explain_top, current_features=features,
                        dictionary=dictionary)
    remote = pl.from_arrow(score_spark(model, _spark_frame(spark, frame), id_columns=ids, explain_top=explain_top,
                                       current_features=features, dictionary=dictionary).toArrow())

    assert remote.columns == local.columns and remote.height == local.height
    both = local.join(remote, on=list(ids), how="full", suffix="_spark", coalesce=True, nulls_equal=True)
    assert both.height == local.height, "the Spark rows do not match the in-process rows one to one"
    for column in ("score", "score_raw", *(c for c in local.columns if c.startswith("reason_shap_"))):
        a, b = both[column].to_numpy(), both[f"{column}_spark"].to_numpy()
        assert np.array_equal(np.isnan(a), np.isnan(b)), column
        assert np.nanmax(np.abs(a - b), initial=0.0) <= TOLERANCE, column
    for column in (c for c in local.columns if c.startswith(("reason_", "reason_feature_")) and "shap" not in c):
        assert both[column].eq_missing(both[f"{column}_spark"]).all(), column
    explained = both["reason_1"].is_not_null().sum()
    assert explained == (frame.height if explain_top is None else explain_top) > 0


def test_spark_training_sample_is_sample_training_rows(spark):
    # 30,000 members with 1-8 rows each: about 135,000 rows, above TRAIN_MAX_ROWS
    rng = np.random.default_rng(16)
    rows_per_member = rng.integers(1, 9, 30_000)
    member = np.repeat(np.arange(30_000), rows_per_member)
    frame = pl.DataFrame({
        "row_id": np.arange(member.size),
        "person_id": pl.Series(member).cast(pl.String).str.zfill(6).str.replace(r"^", "M"),
        "label": (rng.random(member.size) < 0.03).astype(np.int32),
    })
    assert frame.height > TRAIN_MAX_ROWS
    keep, record = sample_training_rows(frame, "label")
    sample, spark_record = sample_training_rows_spark(_spark_frame(spark, frame), "label")

    assert record["engaged"] and 0 < record["sampled_rows"] <= TRAIN_MAX_ROWS
    assert sample.sort("row_id").equals(frame.filter(pl.Series(keep)))
    assert spark_record == record


def test_spark_training_sample_below_the_cap_is_every_row(spark):
    frame = pl.DataFrame({"row_id": np.arange(500), "person_id": [f"M{i % 90}" for i in range(500)],
                          "label": np.arange(500) % 7 == 0})
    sample, record = sample_training_rows_spark(_spark_frame(spark, frame), "label")
    assert sample.sort("row_id").equals(frame) and record == sample_training_rows(frame, "label")[1]


def test_spark_high_need_parts_fit_the_same_model(generated_run, spark):
    """Under the Spark engine the training rows are sampled on Spark (the cap lowered here so the
    sample engages): the parts equal split_snapshots' with the in-process sample, and the fitted
    model's test predictions and model-card sampling record are the same."""
    from models.high_need import fit_high_need_parts, split_snapshots
    from models.spark_score import high_need_parts_spark
    from models.timesplit import high_need_snapshots

    _, home = generated_run
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        as_of = con.execute(f"SELECT max(as_of_date) FROM {HIGH_NEED_TABLE}").fetchone()[0]
        start = con.execute("SELECT min(claim_start_date) FROM raw.medical_claim").fetchone()[0]
        plan = high_need_snapshots(as_of, start)
        frame = con.execute(f"SELECT * FROM {HIGH_NEED_TABLE} WHERE as_of_date IN (SELECT unnest($d))",
                            {"d": [*plan.train, plan.calibration, plan.test]}).pl()
    spark.createDataFrame(frame.to_arrow(compat_level=pl.CompatLevel.oldest())).createOrReplaceTempView("_mf")
    label, cap = "high_need_utilization_12m", 5_000

    parts, split = split_snapshots(frame, plan, label)
    keep, record = sample_training_rows(parts["train"], label, "person_id", cap, 7)
    assert record["engaged"], "the cap should make the sample engage"
    remote, remote_split, remote_record = high_need_parts_spark(spark, "_mf", plan, label, max_rows=cap, seed=7)

    assert remote_split == split and remote_record == record
    assert remote["train"].equals(parts["train"].filter(pl.Series(keep)))
    for name in ("calibration", "test"):
        assert remote[name].equals(parts[name]), name
    local_model = fit_high_need_parts(parts, split, label=label, seed=7, max_train_rows=cap)
    spark_model = fit_high_need_parts(remote, remote_split, label=label, seed=7, max_train_rows=cap,
                                      sampled_by_caller=remote_record)
    assert spark_model.test_predictions.equals(local_model.test_predictions)
    assert spark_model.metrics["sampling"] == local_model.metrics["sampling"]
