"""The contracts as great-expectations suites, validated on the loaded ``raw`` tables.

This is the only module that imports great-expectations. GX 1.24 has no polars source and
its SQL source fails on DuckDB files (GX issues #10738, #11579), so tables are handed to
it as pandas batches. Large tables are validated on a seeded sample whose size is
reported; the row-level quarantine in ``data_contracts.ingest`` already covered every row.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

import pandas as pd

from data_contracts.spec import Contract


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str
    column: str | None
    success: bool
    unexpected_count: int


@dataclass(frozen=True)
class SuiteOutcome:
    extract: str
    success: bool
    rows_validated: int
    outcomes: tuple[ExpectationOutcome, ...]

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]


@contextmanager
def _quiet_optional_spark() -> Iterator[None]:
    """great-expectations imports pyspark when it is installed (the optional ``spark`` extra), and
    pyspark 4.3 warns on import that it does not fully support pandas 3; the contracts never use
    Spark, and a run prints no Python warnings."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
        yield


def build_suite(contract: Contract, data_through: date) -> Any:
    """A ``gx.ExpectationSuite`` holding every column, key, range, code and date-order rule."""
    with _quiet_optional_spark():
        import great_expectations as gx
        import great_expectations.expectations as gxe

    suite = gx.ExpectationSuite(name=f"{contract.extract}_contract")
    suite.add_expectation(gxe.ExpectTableColumnsToMatchSet(column_set=contract.column_names, exact_match=True))
    if len(contract.primary_key) > 1:
        suite.add_expectation(gxe.ExpectCompoundColumnsToBeUnique(column_list=list(contract.primary_key)))
    else:
        suite.add_expectation(gxe.ExpectColumnValuesToBeUnique(column=contract.primary_key[0]))
    for col in contract.columns:
        if col.required and col.blank_allowed_when:
            exempt = " & ".join(
                f"({other}.fillna('').str.fullmatch({pattern!r}))" for other, pattern in col.blank_allowed_when
            )
            suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(
                column=col.name, row_condition=f"~({exempt})", condition_parser="pandas"))
        elif col.required:
            suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=col.name))
        if col.required_with:
            present = " | ".join(f"{other}.notna()" for other in col.required_with)
            suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(
                column=col.name, row_condition=present, condition_parser="pandas"))
        if col.allowed is not None:
            suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column=col.name, value_set=list(col.allowed)))
        if col.pattern is not None:
            suite.add_expectation(gxe.ExpectColumnValuesToMatchRegex(column=col.name, regex=col.pattern))
        low, high = col.min_value(), col.max_value()
        if col.not_in_future:
            high = min(high, data_through) if isinstance(high, date) else data_through
        if low is not None or high is not None:
            if col.type == "date":
                low = datetime.combine(low, time()) if low is not None else None
                high = datetime.combine(high, time()) if high is not None else None
            suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column=col.name, min_value=low, max_value=high))
    for earlier, later in contract.date_order:
        suite.add_expectation(
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A=later, column_B=earlier, or_equal=True, ignore_row_if="either_value_is_missing"
            )
        )
    return suite


def _as_gx_frame(contract: Contract, frame: pd.DataFrame) -> pd.DataFrame:
    """Dates as timestamps, so range expectations compare like with like."""
    out = frame.copy()
    for col in contract.columns:
        if col.type == "date" and col.name in out.columns:
            out[col.name] = pd.to_datetime(out[col.name])
    return out


def validate_frame(contract: Contract, frame: pd.DataFrame, data_through: date) -> SuiteOutcome:
    """Run the contract's suite on a pandas frame of the loaded table."""
    with _quiet_optional_spark():
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas(name=f"{contract.extract}_source")
    asset = source.add_dataframe_asset(name=contract.extract)
    batch_definition = asset.add_batch_definition_whole_dataframe(f"{contract.extract}_batch")
    batch = batch_definition.get_batch(batch_parameters={"dataframe": _as_gx_frame(contract, frame)})
    result = batch.validate(build_suite(contract, data_through))
    outcomes = []
    for r in result.results:
        config = r.expectation_config
        kwargs = config.kwargs
        column = kwargs.get("column") or (",".join(kwargs["column_list"]) if "column_list" in kwargs else None)
        if column is None and "column_A" in kwargs:
            column = f"{kwargs['column_B']}<={kwargs['column_A']}"
        if r.exception_info and r.exception_info.get("raised_exception"):
            raise RuntimeError(
                f"great-expectations could not evaluate {config.type} on {contract.extract}.{column}: "
                f"{r.exception_info.get('exception_message')}"
            )
        outcomes.append(
            ExpectationOutcome(
                expectation=config.type,
                column=column,
                success=bool(r.success),
                unexpected_count=int((r.result or {}).get("unexpected_count") or 0),
            )
        )
    return SuiteOutcome(contract.extract, bool(result.success), len(frame), tuple(outcomes))
