"""One asset per landing extract: contract-checked rows into ``raw``, the rest into ``quarantine``."""

import dagster as dg

from data_contracts.gx_suite import validate_frame
from data_contracts.errors import RiskstratDataError
from data_contracts.ingest import (
    IngestResult,
    create_empty_quarantine_table,
    create_empty_raw_table,
    ingest_extract,
    ingest_months,
    table_exists,
)
from data_contracts.landing import LandingLayoutError, find_extract_file, month_files
from data_contracts.spec import EXTRACTS, Contract, load_contract
from pipelines.failures import surfaces_data_errors
from pipelines.audit import recorded
from pipelines.partitions import landing_month_partitions
from pipelines.resources import DUCKDB_POOL, RiskstratSettings, SqlEngine

# Extracts the rest of the pipeline cannot do without.
REQUIRED_EXTRACTS = frozenset({"eligibility", "medical_claim"})
# great-expectations runs on pandas; past this many rows it validates a seeded sample. Every row was
# already checked by the set-based SQL quarantine during ingestion, so the suite is a second line.
GX_SAMPLE_ROWS = 50_000

# The latest successful load of each partition (NULL for whole-file extracts) is what the tables hold.
CONSERVATION_SQL = """
SELECT count(*), coalesce(sum(rows_read), 0) FROM (
    SELECT rows_read, row_number() OVER (PARTITION BY partition ORDER BY logged_at DESC) AS latest
    FROM audit.ingest_log WHERE extract = $extract AND status = 'loaded'
) WHERE latest = 1
"""


def _raw_metadata(results: list[IngestResult]) -> dict:
    total = sum(r.rows_read for r in results)
    quarantined = sum(r.rows_quarantined for r in results)
    return {
        "source_files": ", ".join(r.source_file for r in results) if len(results) <= 3 else f"{len(results)} files",
        "rows_read": total,
        "rows_loaded": sum(r.rows_loaded for r in results),
        "rows_quarantined": quarantined,
        "quarantine_rate": round(quarantined / total, 5) if total else 0.0,
        "files_unchanged": sum(r.unchanged for r in results),
        "missing_optional_columns": ", ".join(sorted({c for r in results for c in r.missing_optional_columns})) or "none",
        "extra_columns_ignored": ", ".join(sorted({c for r in results for c in r.extra_columns})) or "none",
    }


def _lake_metadata(folder) -> dict:
    # under the Spark engine: where Spark reads this extract (Parquet by service month)
    return {"parquet_folder": str(folder)} if folder is not None else {}


def _quarantine_metadata(results: list[IngestResult]) -> dict:
    by_rule: dict[str, int] = {}
    for r in results:
        for rule, count in r.quarantined_by_rule.items():
            by_rule[rule] = by_rule.get(rule, 0) + count
    return {
        "dagster/row_count": sum(r.rows_quarantined for r in results),
        "by_rule": dg.MetadataValue.json(by_rule),
        "source_lines_exact": all(r.source_lines_exact for r in results),
    }


def _specs(contract: Contract, partitions_def=None) -> list[dg.AssetSpec]:
    extract = contract.extract
    return [
        dg.AssetSpec(
            ["raw", extract],
            description=f"{contract.description} Grain: {contract.grain}. Rows that pass the written contract.",
            group_name="ingest",
            kinds={"duckdb"},
            partitions_def=partitions_def,
        ),
        dg.AssetSpec(
            ["quarantine", extract],
            description=f"Rows of the {extract} extract that broke its contract, with the rule, reason and source line.",
            group_name="ingest",
            kinds={"duckdb"},
            partitions_def=partitions_def,
        ),
    ]


def _whole_file_asset(contract: Contract) -> dg.AssetsDefinition:
    extract = contract.extract

    @dg.multi_asset(name=f"ingest_{extract}", specs=_specs(contract), pool=DUCKDB_POOL)
    @surfaces_data_errors
    def _asset(context: dg.AssetExecutionContext, settings: RiskstratSettings, engine: SqlEngine):
        path = find_extract_file(settings.landing_path, extract)
        with settings.connect() as con:
            if path is None:
                if extract in REQUIRED_EXTRACTS:
                    raise LandingLayoutError(
                        f"landing folder has no {extract} extract; add {extract}.csv (or .csv.gz, .parquet), "
                        "the pipeline needs it", source=f"{extract}.csv")
                create_empty_raw_table(con, contract)
                create_empty_quarantine_table(con, contract)
                engine.write_raw(settings, con, extract)
                context.log.warning(f"{extract}: no file in the landing folder; raw.{extract} is empty")
                yield dg.MaterializeResult(asset_key=["raw", extract], metadata={"source_files": "absent", "rows_read": 0})
                yield dg.MaterializeResult(asset_key=["quarantine", extract], metadata={"dagster/row_count": 0})
                return
            result = ingest_extract(
                con, contract, path, data_through=settings.data_through_date(), run_id=context.run.run_id,
                breach_threshold=settings.threshold_override(),
            )
            lake = engine.write_raw(settings, con, extract)
        context.log.info(
            f"{extract}: read {result.rows_read}, loaded {result.rows_loaded}, quarantined {result.rows_quarantined}"
            + (" (file unchanged since the last load)" if result.unchanged else "")
        )
        yield dg.MaterializeResult(
            asset_key=["raw", extract],
            metadata={**_raw_metadata([result]), "file_sha256": result.file_sha256, "dagster/row_count": result.rows_loaded,
                      **_lake_metadata(lake)},
        )
        yield dg.MaterializeResult(asset_key=["quarantine", extract], metadata=_quarantine_metadata([result]))

    return _asset


def _monthly_asset(contract: Contract) -> dg.AssetsDefinition:
    extract = contract.extract

    @dg.multi_asset(
        name=f"ingest_{extract}",
        specs=_specs(contract, landing_month_partitions),
        pool=DUCKDB_POOL,
        # one run loads a whole range of months, many small months per read and transaction
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    @surfaces_data_errors
    def _asset(context: dg.AssetExecutionContext, settings: RiskstratSettings, engine: SqlEngine):
        files = month_files(settings.landing_path, extract)
        wanted = {month: files[month] for month in context.partition_keys if month in files}
        with settings.connect() as con:
            outcome = ingest_months(
                con, contract, wanted, data_through=settings.data_through_date(), run_id=context.run.run_id,
                breach_threshold=settings.threshold_override(),
            )
            # the whole table, after every month of this run: a month reloaded replaces its rows
            lake = engine.write_raw(settings, con, extract) if not outcome.failures else None
        loaded, failed = outcome.results, [str(exc) for _, exc in outcome.failures]
        for month, exc in outcome.failures:
            context.log.error(f"{extract} {month}: {exc}")
        if failed:
            # the months that did load are recorded as materialised; the run still fails
            for result in loaded:
                for key, meta in (
                    (["raw", extract], _raw_metadata([result])),
                    (["quarantine", extract], _quarantine_metadata([result])),
                ):
                    context.log_event(dg.AssetMaterialization(asset_key=key, partition=result.partition, metadata=meta))
            raise RiskstratDataError(
                f"{len(failed)} {extract} file(s) failed and their months were left as they were; "
                f"{len(loaded)} other month(s) loaded: " + " | ".join(failed), source=extract)
        span = month_span(sorted(files))
        context.log.info(
            f"{extract}: {len(loaded)} month file(s) processed in {outcome.batches} batch(es), "
            f"{sum(r.unchanged for r in loaded)} unchanged; landing months {span['months_first']}..{span['months_last']}"
        )
        yield dg.MaterializeResult(
            asset_key=["raw", extract],
            metadata={**_raw_metadata(loaded), **span, "load_batches": outcome.batches,
                      "empty_month_files": sum(1 for r in loaded if r.rows_read == 0), **_lake_metadata(lake)},
        )
        yield dg.MaterializeResult(asset_key=["quarantine", extract], metadata=_quarantine_metadata(loaded))

    return _asset


def _month_number(month: str) -> int:
    year, mon = month.split("-")
    return int(year) * 12 + int(mon) - 1


def month_span(months: list[str]) -> dict:
    """First and last landing month, how many calendar months that spans, and those without a file
    (as ranges: a sparse history of decades is mostly empty months)."""
    if not months:
        return {"months_first": "none", "months_last": "none", "months_spanned": 0, "months_with_file": 0,
                "months_without_file": 0, "months_without_file_ranges": "none"}
    numbers = sorted({_month_number(m) for m in months})
    gaps = [(a + 1, b - 1) for a, b in zip(numbers, numbers[1:]) if b - a > 1]

    def name(n: int) -> str:
        return f"{n // 12:04d}-{n % 12 + 1:02d}"

    ranges = [name(a) if a == b else f"{name(a)}..{name(b)}" for a, b in gaps]
    return {
        "months_first": name(numbers[0]),
        "months_last": name(numbers[-1]),
        "months_spanned": numbers[-1] - numbers[0] + 1,
        "months_with_file": len(numbers),
        "months_without_file": sum(b - a + 1 for a, b in gaps),
        "months_without_file_ranges": (", ".join(ranges[:20]) + (f", … ({len(ranges)} gaps)" if len(ranges) > 20 else ""))
        or "none",
    }


def _contract_check(contract: Contract) -> dg.AssetChecksDefinition:
    extract = contract.extract

    @dg.asset_check(
        asset=dg.AssetKey(["raw", extract]),
        name="contract",
        description=f"great-expectations suite for the {extract} contract, run on the loaded rows.",
        blocking=contract.feeds_models,
        pool=DUCKDB_POOL,
    )
    @surfaces_data_errors
    def _check(context: dg.AssetCheckExecutionContext, settings: RiskstratSettings) -> dg.AssetCheckResult:
        with settings.connect(read_only=True) as con:
            total = con.execute(f'SELECT count(*) FROM raw."{extract}"').fetchone()[0]
            sample = (
                f'SELECT * FROM raw."{extract}" USING SAMPLE reservoir({GX_SAMPLE_ROWS} ROWS) REPEATABLE (7)'
                if total > GX_SAMPLE_ROWS
                else f'SELECT * FROM raw."{extract}"'
            )
            frame = con.execute(sample).df()
        frame = frame.drop(columns=[c for c in frame.columns if c.startswith("_")])
        outcome = validate_frame(contract, frame, settings.data_through_date())
        return recorded(context, settings, dg.AssetCheckResult(
            passed=outcome.success,
            severity=dg.AssetCheckSeverity.ERROR,
            description=None if outcome.success else f"{len(outcome.failed)} expectation(s) failed on raw.{extract}",
            metadata={
                "rows_validated": outcome.rows_validated,
                "rows_in_table": total,
                "expectations": len(outcome.outcomes),
                "failed": dg.MetadataValue.json(
                    [{"expectation": o.expectation, "column": o.column, "unexpected": o.unexpected_count} for o in outcome.failed]
                ),
            },
        ))

    return _check


def _conservation_check(contract: Contract) -> dg.AssetChecksDefinition:
    extract = contract.extract

    @dg.asset_check(
        asset=dg.AssetKey(["raw", extract]),
        name="conservation",
        description="Every row read is either loaded or quarantined: rows read = raw rows + quarantine rows.",
        blocking=True,
        pool=DUCKDB_POOL,
    )
    @surfaces_data_errors
    def _check(context: dg.AssetCheckExecutionContext, settings: RiskstratSettings) -> dg.AssetCheckResult:
        with settings.connect(read_only=True) as con:
            loads, rows_read = con.execute(CONSERVATION_SQL, {"extract": extract}).fetchone() if table_exists(con, "audit", "ingest_log") else (0, 0)
            loaded = con.execute(f'SELECT count(*) FROM raw."{extract}"').fetchone()[0]
            quarantined = con.execute(f'SELECT count(*) FROM quarantine."{extract}"').fetchone()[0] if loads else 0
        return recorded(context, settings, dg.AssetCheckResult(
            passed=rows_read == loaded + quarantined,
            metadata={"rows_read": rows_read, "rows_loaded": loaded, "rows_quarantined": quarantined},
        ))

    return _check


def _blank_share_check(contract: Contract) -> dg.AssetChecksDefinition:
    extract = contract.extract
    watched = [c for c in contract.columns if c.max_blank_share is not None]

    @dg.asset_check(
        asset=dg.AssetKey(["raw", extract]),
        name="blank_share",
        description="Warns (never blocks) when more loaded rows than the contract expects leave a column blank: "
        + ", ".join(f"{c.name} over {c.max_blank_share:.0%}" for c in watched)
        + ". An extract whose column is blank everywhere is valid row by row but worth a look.",
        blocking=False,
        pool=DUCKDB_POOL,
    )
    @surfaces_data_errors
    def _check(context: dg.AssetCheckExecutionContext, settings: RiskstratSettings) -> dg.AssetCheckResult:
        select = ", ".join(f'count(*) FILTER (WHERE "{c.name}" IS NULL)' for c in watched)
        with settings.connect(read_only=True) as con:
            total, *blanks = con.execute(f'SELECT count(*), {select} FROM raw."{extract}"').fetchone()
        shares = {c.name: (blank / total if total else 0.0) for c, blank in zip(watched, blanks, strict=True)}
        over = [c.name for c in watched if shares[c.name] > c.max_blank_share]
        return recorded(context, settings, dg.AssetCheckResult(
            passed=not over,
            severity=dg.AssetCheckSeverity.WARN,
            description=None if not over else f"blank in more rows than expected: {', '.join(over)}",
            metadata={"rows": total, **{f"blank_share_{name}": round(v, 5) for name, v in shares.items()},
                      **{f"blank_rows_{c.name}": int(b) for c, b in zip(watched, blanks, strict=True)}},
        ))

    return _check


CONTRACTS = [load_contract(name) for name in EXTRACTS]
ingest_assets = [_monthly_asset(c) if c.partition_by else _whole_file_asset(c) for c in CONTRACTS]
ingest_checks = [check for c in CONTRACTS for check in (_contract_check(c), _conservation_check(c))] + [
    _blank_share_check(c) for c in CONTRACTS if any(col.max_blank_share is not None for col in c.columns)
]
