"""``riskstrat run --engine spark`` (issue 16): the whole pipeline with its feature, label and KPI SQL
on Spark writes the same warehouse and the same intake list as the default DuckDB run on the same
landing folder (the suite's shared 8,000-member run with injected defects), and its ingest steps
write the raw tables as Parquet by service month for Spark to read."""

from __future__ import annotations

import duckdb
import pytest

from features.spark_landing import spark_unavailable_reason

pytestmark = pytest.mark.slow

SPARK_MISSING = spark_unavailable_reason()
needs_spark = pytest.mark.skipif(SPARK_MISSING is not None, reason=f"the Spark engine cannot start here: {SPARK_MISSING}")


@pytest.fixture(scope="module")
def spark_run(generated_run, tmp_path_factory):
    from pipelines.cli import execute_pipeline

    landing, reference = generated_run
    home = tmp_path_factory.mktemp("spark_engine") / "home"
    result = execute_pipeline(home, landing, engine="spark")
    assert result.success, "the pipeline run with --engine spark failed"
    return result, reference, home


@needs_spark
def test_every_table_equals_the_duckdb_run(spark_run):
    from features.warehouse_diff import compare_warehouses

    _, reference, home = spark_run
    diffs = compare_warehouses(reference / "warehouse.duckdb", home / "warehouse.duckdb")
    tables = {d.table for d in diffs}
    # the tables the Spark steps build, and what every later step makes of them
    assert {"core.inpatient_stay", "core.diagnosis", "features.readmission_stay", "features.member_features",
            "marts.kpi_utilization_monthly", "ml.readmission_score", "ml.high_need_score", "marts.intake_list",
            "marts.program_effect"} <= tables
    unequal = {d.table: d.problems for d in diffs if not d.equal}
    assert not unequal, f"tables differ between the engines: {unequal}"


@needs_spark
def test_same_intake_list_file(spark_run):
    _, reference, home = spark_run
    duck = (reference / "outputs" / "intake_list.csv").read_text()
    spark = (home / "outputs" / "intake_list.csv").read_text()
    assert duck.count("\n") > 1, "the reference intake list is empty: nothing compared"
    assert spark == duck


@needs_spark
def test_ingest_writes_parquet_by_service_month(spark_run):
    _, _, home = spark_run
    claims = home / "lake" / "raw" / "medical_claim"
    months = sorted(p.name for p in claims.glob("service_month=*"))
    assert len(months) >= 36, months[:3]
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        raw = con.execute("SELECT count(*) FROM raw.medical_claim").fetchone()[0]
        lake = con.execute(f"SELECT count(*) FROM read_parquet('{claims}/*/*.parquet')").fetchone()[0]
        # every extract, empty or absent ones too, is a readable folder with the contract's columns
        from data_contracts.spec import EXTRACTS, load_contract

        for extract in EXTRACTS:
            files = str(home / "lake" / "raw" / extract / "**" / "*.parquet")
            columns = [r[0] for r in con.execute(
                f"DESCRIBE SELECT * FROM read_parquet('{files}', hive_partitioning = false)").fetchall()]
            assert set(columns) >= {c.name for c in load_contract(extract).columns}, extract
    assert lake == raw


@needs_spark
def test_the_sql_steps_say_they_ran_on_spark(spark_run):
    result, _, _ = spark_run
    for step in ("core__inpatient_stay", "features__member_features", "marts__kpi_readmission_monthly",
                 "ml__high_need_score"):
        (materialization,) = result.asset_materializations_for_node(step)
        assert materialization.metadata["engine"].value == "spark", step


def test_spark_engine_unavailable_stops_with_one_sentence(tmp_path, monkeypatch, capsys):
    """Without pyspark or Java, ``--engine spark`` stops before anything runs, saying what to install."""
    import features.spark_landing as landing_module
    from pipelines.cli import main

    monkeypatch.setattr(landing_module, "spark_unavailable_reason",
                        lambda: "pyspark is not installed: pip install '.[spark]'")
    (tmp_path / "landing").mkdir()
    code = main(["run", "--landing", str(tmp_path / "landing"), "--home", str(tmp_path / "home"), "--engine", "spark"])
    err = capsys.readouterr().err
    assert code == 2
    assert "cannot run on Spark: pyspark is not installed: pip install '.[spark]'; or run with --engine duckdb" in err
    assert "Traceback" not in err
    assert not (tmp_path / "home" / "warehouse.duckdb").exists()


def test_unknown_engine_is_a_data_error():
    from data_contracts.errors import RiskstratDataError
    from pipelines.resources import SqlEngine

    with pytest.raises(RiskstratDataError, match="unknown SQL engine 'presto': choose one of duckdb, spark"):
        _ = SqlEngine(name="presto").on_spark


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_code_location_loads_under_both_engines(engine, monkeypatch, tmp_path):
    """``dagster dev`` loads pipelines.definitions with RISKSTRAT_ENGINE set either way: every job
    resolves and the SQL assets get the chosen engine (the session starts only when a step runs)."""
    import importlib

    import dagster as dg

    import pipelines.definitions as definitions

    monkeypatch.setenv("RISKSTRAT_HOME", str(tmp_path))
    monkeypatch.setenv("RISKSTRAT_ENGINE", engine)
    module = importlib.reload(definitions)
    try:
        dg.Definitions.validate_loadable(module.defs)
        assert module.defs.resources["engine"].name == engine
        job = module.defs.resolve_job_def(module.ALL_ASSETS_JOB)
        assert "engine" in job.resource_defs
    finally:
        monkeypatch.delenv("RISKSTRAT_ENGINE")
        importlib.reload(definitions)


def test_unknown_engine_in_environment_names_the_variable(monkeypatch):
    from pipelines.definitions import engine_from_environment

    monkeypatch.setenv("RISKSTRAT_ENGINE", "presto")
    with pytest.raises(ValueError, match="RISKSTRAT_ENGINE='presto': choose one of duckdb, spark"):
        engine_from_environment()


def test_reason_texts_one_shown_unit_apart_match():
    """The one documented difference in words: a reason's rounded value a float-sum apart across a half."""
    import polars as pl

    from features.warehouse_diff import reason_texts_match

    a = pl.Series(["raises risk: $6,067 in pharmacy costs", "2.5 visits", "raises risk: $6,069", None, "x 1 y"])
    b = pl.Series(["raises risk: $6,066 in pharmacy costs", "2.4 visits", "raises risk: $6,067", None, "z 1 y"])
    assert reason_texts_match(a, b).to_list() == [True, True, False, True, False]

