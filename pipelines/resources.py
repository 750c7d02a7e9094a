"""Resources: where the warehouse, landing folder and model store live, and the run's dates."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb

from data_contracts.errors import RiskstratDataError
from features.coverage import cached_month_coverage, decide_as_of

DUCKDB_POOL = "duckdb"
# DuckDB's guidance for join- and aggregate-heavy work is 1-4 GB per thread: each thread keeps its
# own share of every hash table, so with too little memory per thread a statement that could
# spill fails instead. One thread per 2 GB of the memory limit, at most one per core.
DUCKDB_BYTES_PER_THREAD = 2 * 1024**3
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?)B?\s*$", re.IGNORECASE)


def size_bytes(size: str) -> int:
    """Bytes in a DuckDB size string such as ``6GB``, ``500MB`` or ``6GiB`` (GB = 1000^3, GiB = 1024^3)."""
    match = _SIZE.match(size)
    if not match:
        raise ValueError(f"cannot read {size!r} as a size; write it like 6GB or 500MB")
    number, unit, binary = match.groups()
    base = 1024 if binary else 1000
    return int(float(number) * base ** " KMGT".index(unit.upper() or " "))


def duckdb_threads(memory_limit: str, cores: int | None = None) -> int:
    """Threads for a DuckDB memory limit: one per ``DUCKDB_BYTES_PER_THREAD``, at least 1, at most ``cores``."""
    cores = cores or os.cpu_count() or 1
    return max(1, min(cores, size_bytes(memory_limit) // DUCKDB_BYTES_PER_THREAD))


class WarehouseLockedError(RuntimeError):
    """Another process holds the DuckDB file's write lock."""


class RiskstratSettings(dg.ConfigurableResource):
    """Paths and dates for one pipeline run; every output lands under ``home``."""

    home: str = "riskstrat-home"
    landing: str = ""
    as_of: str = ""
    data_through: str = ""
    breach_threshold: float = -1.0
    # which score ranks the intake list: "readmission" (recent discharges) or "high_need"
    intake_score: str = "readmission"
    # how the readmission list is ordered: "risk", "benefit" or "blend" (models.intake.RANK_BASES);
    # risk until the evaluation in docs/evaluation.md says otherwise
    intake_rank: str = "risk"
    # evaluation lottery at the intake list's capacity cut: the band's size as a share of the open
    # slots (0 = off); the intake asset's config can override it per run
    evaluation_lottery: float = 0.0
    # Dagster steps in other processes (the UI's executor) may hold the file briefly.
    lock_wait_seconds: float = 60.0
    # DuckDB's own cap (its default is 80% of RAM): past it, joins, aggregates and sorts spill to
    # the temp directory instead of growing; at 1M members the member-feature and KPI statements
    # otherwise hold 7-8 GB (docs/scaling.md, which also lists the memory rule of each statement).
    # 5GB (4.66 GiB) leaves room for the Python side under a 6 GB process: with 6GB the 1M feature
    # stage peaked at 6.38 GB RSS (2026-11-30).
    duckdb_memory_limit: str = "5GB"
    # 0: sized to the memory limit (duckdb_threads: one per 2 GB, at most one per core)
    duckdb_threads: int = 0
    # where DuckDB spills; empty: HOME/duckdb_tmp, under the run's home folder
    duckdb_temp_directory: str = ""

    @property
    def home_path(self) -> Path:
        return Path(self.home).expanduser().resolve()

    @property
    def landing_path(self) -> Path:
        return Path(self.landing).expanduser().resolve() if self.landing else self.home_path / "landing"

    @property
    def warehouse_path(self) -> Path:
        return self.home_path / "warehouse.duckdb"

    @property
    def outputs_path(self) -> Path:
        path = self.home_path / "outputs"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def models_path(self) -> Path:
        path = self.home_path / "models"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def duckdb_config(self) -> dict[str, str | int]:
        """What every warehouse connection runs with: memory limit, threads and spill directory.

        ``preserve_insertion_order`` stays on: the feature tables are written in a stated order
        (as_of_date, person_id; discharge_date, stay_id) and training reads them back in it, so
        the fitted models do not depend on scan scheduling."""
        threads = self.duckdb_threads or duckdb_threads(self.duckdb_memory_limit)
        temp = Path(self.duckdb_temp_directory).expanduser() if self.duckdb_temp_directory else self.home_path / "duckdb_tmp"
        return {"memory_limit": self.duckdb_memory_limit, "threads": threads, "temp_directory": str(temp)}

    def threshold_override(self) -> float | None:
        return None if self.breach_threshold < 0 else self.breach_threshold

    def data_through_date(self) -> date:
        """Last date data may carry; later dates are quarantined as future dates."""
        return date.fromisoformat(self.data_through) if self.data_through else date.today()

    def resolve_as_of(self, con: duckdb.DuckDBPyConnection) -> date:
        """The configured as-of date, else the default of ``features.coverage.decide_as_of``: the day
        after the last month complete in both claims and eligibility (trailing run-out months left
        out), never past the last day anybody is enrolled. The coverage behind it is computed once per
        state of the raw tables (``features.coverage.cached_month_coverage``), not once per asset."""
        if self.as_of:
            return date.fromisoformat(self.as_of)
        decision = decide_as_of(cached_month_coverage(con))
        if decision.as_of is None:
            raise RiskstratDataError(
                "cannot derive an as-of date: no month has both claim lines (raw.medical_claim, else raw.encounter) "
                "and members enrolled in raw.eligibility; check the eligibility dates or pass --as-of",
                source="raw.eligibility")
        return decision.as_of

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to the warehouse; waits up to ``lock_wait_seconds`` for another process's lock."""
        self.home_path.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_wait_seconds
        while True:
            try:
                con = duckdb.connect(str(self.warehouse_path), read_only=read_only, config=self.duckdb_config)
                break
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower():
                    raise
                if time.monotonic() >= deadline:
                    raise WarehouseLockedError(
                        f"{self.warehouse_path} is locked by another process (a second pipeline run or an open "
                        f"DuckDB session) for more than {self.lock_wait_seconds:.0f} s; close it, then rerun."
                    ) from None
                time.sleep(0.5)
        try:
            yield con
        finally:
            con.close()


ENGINES = ("duckdb", "spark")


class SqlEngine(dg.ConfigurableResource):
    """Where the named SQL files (stays, diagnoses, readmission and member features, KPIs) run.

    ``duckdb`` (the default): in the warehouse file. ``spark``: on a SparkSession over a Parquet
    lake the ingest steps write (``lake``, default HOME/lake), each table then landed in the
    warehouse so every later step reads the same tables (``features.spark_landing``). ``spark_master``
    is ``local[2]`` on one machine, or a cluster URL (``spark://host:7077``, ``yarn``) for a real one;
    the code location picks the engine from RISKSTRAT_ENGINE, the CLI from ``--engine``."""

    name: str = "duckdb"
    spark_master: str = "local[2]"
    # the driver is the executor in local mode: it holds Spark's shuffles, so give it room
    spark_driver_memory: str = "4g"
    spark_shuffle_partitions: int = 4
    lake: str = ""

    @property
    def on_spark(self) -> bool:
        if self.name not in ENGINES:
            raise RiskstratDataError(f"unknown SQL engine {self.name!r}: choose one of {', '.join(ENGINES)}",
                                     source="engine")
        return self.name == "spark"

    def lake_path(self, settings: RiskstratSettings) -> Path:
        return Path(self.lake).expanduser().resolve() if self.lake else settings.home_path / "lake"

    def spark(self, settings: RiskstratSettings, con: duckdb.DuckDBPyConnection):
        """The SparkSession for a step, ready to run the SQL files (``features.spark_landing.open_lake``);
        one per process, started by the first step that asks."""
        from features.spark_engine import SparkSettings, spark_session
        from features.spark_landing import open_lake, spark_unavailable_reason

        reason = spark_unavailable_reason()
        if reason:
            raise RiskstratDataError(f"the Spark engine cannot start: {reason}; or run with --engine duckdb",
                                     source="engine")
        lake = self.lake_path(settings)
        spark = spark_session(SparkSettings(
            warehouse=lake / "warehouse", master=self.spark_master, driver_memory=self.spark_driver_memory,
            shuffle_partitions=self.spark_shuffle_partitions))
        open_lake(spark, con, lake)
        return spark

    def write_raw(self, settings: RiskstratSettings, con: duckdb.DuckDBPyConnection, extract: str) -> Path | None:
        """Under the Spark engine, ``raw.<extract>`` as Parquet by month in the lake (what Spark reads);
        nothing under DuckDB."""
        if not self.on_spark:
            return None
        from features.spark_engine import write_raw_parquet

        return write_raw_parquet(con, self.lake_path(settings), extract)
