"""One asset per landing extract: contract-checked rows into ``raw``, the rest into ``quarantine``."""

import dagster as dg

from data_contracts.gx_suite import validate_frame
from data_contracts.ingest import (
    ContractBreach,
    ExtractFileError,
    create_empty_raw_table,
    find_extract_file,
    ingest_extract,
)
from data_contracts.spec import EXTRACTS, Contract, load_contract
from pipelines.resources import DUCKDB_POOL, RiskstratSettings

# Extracts the rest of the pipeline cannot do without.
REQUIRED_EXTRACTS = frozenset({"eligibility", "medical_claim"})
# great-expectations runs on pandas; past this many rows it validates a seeded sample.
GX_SAMPLE_ROWS = 250_000

CONSERVATION_SQL = """
SELECT rows_read, rows_loaded, rows_quarantined
FROM audit.ingest_log WHERE extract = $extract AND status = 'loaded'
ORDER BY logged_at DESC LIMIT 1
"""


def _ingest_asset(contract: Contract) -> dg.AssetsDefinition:
    extract = contract.extract

    @dg.multi_asset(
        name=f"ingest_{extract}",
        specs=[
            dg.AssetSpec(
                ["raw", extract],
                description=f"{contract.description} Grain: {contract.grain}. Rows that pass the written contract.",
                group_name="ingest",
                kinds={"duckdb"},
            ),
            dg.AssetSpec(
                ["quarantine", extract],
                description=f"Rows of the {extract} extract that broke its contract, with the rule and reason.",
                group_name="ingest",
                kinds={"duckdb"},
            ),
        ],
        pool=DUCKDB_POOL,
    )
    def _asset(context: dg.AssetExecutionContext, settings: RiskstratSettings):
        path = find_extract_file(settings.landing_path, extract)
        with settings.connect() as con:
            if path is None:
                if extract in REQUIRED_EXTRACTS:
                    raise dg.Failure(f"landing folder has no {extract} extract ({extract}.csv, .csv.gz or .parquet)")
                create_empty_raw_table(con, contract)
                context.log.warning(f"{extract}: no file in the landing folder; raw.{extract} is empty")
                meta = {"source_file": "absent", "rows_read": 0}
                yield dg.MaterializeResult(asset_key=["raw", extract], metadata=meta)
                yield dg.MaterializeResult(asset_key=["quarantine", extract], metadata=meta)
                return
            try:
                result = ingest_extract(
                    con,
                    contract,
                    path,
                    data_through=settings.data_through_date(),
                    run_id=context.run_id,
                    breach_threshold=settings.threshold_override(),
                )
            except (ContractBreach, ExtractFileError) as exc:
                raise dg.Failure(description=str(exc)) from None
        context.log.info(
            f"{extract}: read {result.rows_read}, loaded {result.rows_loaded}, quarantined {result.rows_quarantined}"
        )
        yield dg.MaterializeResult(
            asset_key=["raw", extract],
            metadata={
                "source_file": result.source_file,
                "file_sha256": result.file_sha256,
                "rows_read": result.rows_read,
                "dagster/row_count": result.rows_loaded,
                "rows_quarantined": result.rows_quarantined,
                "quarantine_rate": round(result.quarantine_rate, 5),
                "missing_optional_columns": ", ".join(result.missing_optional_columns) or "none",
                "extra_columns_ignored": ", ".join(result.extra_columns) or "none",
            },
        )
        yield dg.MaterializeResult(
            asset_key=["quarantine", extract],
            metadata={
                "dagster/row_count": result.rows_quarantined,
                "by_rule": dg.MetadataValue.json(result.quarantined_by_rule),
                "source_lines_exact": result.source_lines_exact,
            },
        )

    return _asset


def _contract_check(contract: Contract) -> dg.AssetChecksDefinition:
    extract = contract.extract

    @dg.asset_check(
        asset=dg.AssetKey(["raw", extract]),
        name="contract",
        description=f"great-expectations suite for the {extract} contract, run on the loaded rows.",
        blocking=contract.feeds_models,
    )
    def _check(settings: RiskstratSettings) -> dg.AssetCheckResult:
        with settings.connect(read_only=True) as con:
            total = con.execute(f'SELECT count(*) FROM raw."{extract}"').fetchone()[0]
            sample = (
                f'SELECT * FROM raw."{extract}" USING SAMPLE reservoir({GX_SAMPLE_ROWS} ROWS) REPEATABLE (7)'
                if total > GX_SAMPLE_ROWS
                else f'SELECT * FROM raw."{extract}"'
            )
            frame = con.execute(sample).df()
        outcome = validate_frame(contract, frame, settings.data_through_date())
        return dg.AssetCheckResult(
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
        )

    return _check


def _conservation_check(contract: Contract) -> dg.AssetChecksDefinition:
    extract = contract.extract

    @dg.asset_check(
        asset=dg.AssetKey(["raw", extract]),
        name="conservation",
        description="Every row read is either loaded or quarantined: rows read = raw rows + quarantine rows.",
        blocking=True,
    )
    def _check(settings: RiskstratSettings) -> dg.AssetCheckResult:
        with settings.connect(read_only=True) as con:
            logged = con.execute(CONSERVATION_SQL, {"extract": extract}).fetchone() if _has_audit(con) else None
            loaded = con.execute(f'SELECT count(*) FROM raw."{extract}"').fetchone()[0]
            quarantined = (
                con.execute(f'SELECT count(*) FROM quarantine."{extract}"').fetchone()[0] if logged is not None else 0
            )
        rows_read = logged[0] if logged is not None else 0
        return dg.AssetCheckResult(
            passed=rows_read == loaded + quarantined,
            metadata={"rows_read": rows_read, "rows_loaded": loaded, "rows_quarantined": quarantined},
        )

    return _check


def _has_audit(con) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'audit' AND table_name = 'ingest_log'"
        ).fetchone()[0]
    )


CONTRACTS = [load_contract(name) for name in EXTRACTS]
ingest_assets = [_ingest_asset(c) for c in CONTRACTS]
ingest_checks = [check for c in CONTRACTS for check in (_contract_check(c), _conservation_check(c))]
