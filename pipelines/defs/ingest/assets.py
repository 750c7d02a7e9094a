"""One asset per landing extract: contract-checked rows into ``raw``, the rest into ``quarantine``."""

import dagster as dg

from data_contracts.gx_suite import validate_frame
from data_contracts.ingest import (
    ContractBreach,
    ExtractFileError,
    create_empty_raw_table,
    IngestResult,
    ingest_extract,
    table_exists,
)
from data_contracts.landing import find_extract_file, month_files
from data_contracts.spec import EXTRACTS, Contract, load_contract
from pipelines.failures import surfaces_data_errors
from pipelines.audit import recorded
from pipelines.partitions import landing_month_partitions
from pipelines.resources import DUCKDB_POOL, RiskstratSettings

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
    def _asset(context: dg.AssetExecutionContext, settings: RiskstratSettings):
        path = find_extract_file(settings.landing_path, extract)
        with settings.connect() as con:
            if path is None:
                if extract in REQUIRED_EXTRACTS:
                    raise dg.Failure(f"landing folder has no {extract} extract ({extract}.csv, .csv.gz or .parquet)")
                create_empty_raw_table(con, contract)
                context.log.warning(f"{extract}: no file in the landing folder; raw.{extract} is empty")
                yield dg.MaterializeResult(asset_key=["raw", extract], metadata={"source_files": "absent", "rows_read": 0})
                yield dg.MaterializeResult(asset_key=["quarantine", extract], metadata={"dagster/row_count": 0})
                return
            try:
                result = ingest_extract(
                    con, contract, path, data_through=settings.data_through_date(), run_id=context.run_id,
                    breach_threshold=settings.threshold_override(),
                )
            except (ContractBreach, ExtractFileError) as exc:
                raise dg.Failure(description=str(exc)) from None
        context.log.info(
            f"{extract}: read {result.rows_read}, loaded {result.rows_loaded}, quarantined {result.rows_quarantined}"
            + (" (file unchanged since the last load)" if result.unchanged else "")
        )
        yield dg.MaterializeResult(
            asset_key=["raw", extract],
            metadata={**_raw_metadata([result]), "file_sha256": result.file_sha256, "dagster/row_count": result.rows_loaded},
        )
        yield dg.MaterializeResult(asset_key=["quarantine", extract], metadata=_quarantine_metadata([result]))

    return _asset


def _monthly_asset(contract: Contract) -> dg.AssetsDefinition:
    extract = contract.extract

    @dg.multi_asset(
        name=f"ingest_{extract}",
        specs=_specs(contract, landing_month_partitions),
        pool=DUCKDB_POOL,
        # one run loads a whole range of months; each month is its own transaction
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    @surfaces_data_errors
    def _asset(context: dg.AssetExecutionContext, settings: RiskstratSettings):
        files = month_files(settings.landing_path, extract)
        loaded: list[IngestResult] = []
        failed: list[str] = []
        with settings.connect() as con:
            for month in context.partition_keys:
                path = files.get(month)
                if path is None:
                    context.log.info(f"{extract} {month}: no file in the landing folder; month left as it was")
                    continue
                try:
                    result = ingest_extract(
                        con, contract, path, data_through=settings.data_through_date(), run_id=context.run_id,
                        breach_threshold=settings.threshold_override(), partition=month,
                    )
                except (ContractBreach, ExtractFileError) as exc:
                    failed.append(str(exc))
                    context.log.error(f"{extract} {month}: {exc}")
                    continue
                loaded.append(result)
        if failed:
            # the months that did load are recorded as materialised; the run still fails
            for result in loaded:
                for key, meta in (
                    (["raw", extract], _raw_metadata([result])),
                    (["quarantine", extract], _quarantine_metadata([result])),
                ):
                    context.log_event(dg.AssetMaterialization(asset_key=key, partition=result.partition, metadata=meta))
            raise dg.Failure(
                description=f"{len(failed)} {extract} file(s) failed and their months were left as they were; "
                f"{len(loaded)} other month(s) loaded. " + " | ".join(failed)
            )
        context.log.info(f"{extract}: {len(loaded)} month file(s) processed, {sum(r.unchanged for r in loaded)} unchanged")
        yield dg.MaterializeResult(asset_key=["raw", extract], metadata=_raw_metadata(loaded))
        yield dg.MaterializeResult(asset_key=["quarantine", extract], metadata=_quarantine_metadata(loaded))

    return _asset


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


CONTRACTS = [load_contract(name) for name in EXTRACTS]
ingest_assets = [_monthly_asset(c) if c.partition_by else _whole_file_asset(c) for c in CONTRACTS]
ingest_checks = [check for c in CONTRACTS for check in (_contract_check(c), _conservation_check(c))]
