"""Data problems become Dagster step failures that carry the same one-sentence message.

``surfaces_data_errors`` wraps an asset or check body: a :class:`RiskstratDataError` raised by
a library becomes a ``dg.Failure`` whose description is the error's sentence and whose metadata
marks it as a data error (with the file/table and column when known), so the UI shows the cause
and the CLI can tell a data problem (exit 2, no traceback) from a bug.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import TypeVar

import dagster as dg

from data_contracts.errors import RiskstratDataError

DATA_ERROR_TAG = "riskstrat/data_error"

F = TypeVar("F", bound=Callable)


def data_error_failure(exc: RiskstratDataError) -> dg.Failure:
    metadata: dict[str, str | bool] = {DATA_ERROR_TAG: True, "error_type": type(exc).__name__}
    if exc.source:
        metadata["source"] = exc.source
    if exc.column:
        metadata["column"] = exc.column
    return dg.Failure(description=str(exc), metadata=metadata, allow_retries=False)


def surfaces_data_errors(fn: F) -> F:
    """Re-raise a ``RiskstratDataError`` from ``fn`` as a ``dg.Failure`` with the same message.

    Generator bodies (multi-assets yielding their results) stay generator functions, so Dagster
    still sees them as such.
    """
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generator_wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except RiskstratDataError as exc:
                raise data_error_failure(exc) from None

        return generator_wrapper  # type: ignore[return-value]

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except RiskstratDataError as exc:
            raise data_error_failure(exc) from None

    return wrapper  # type: ignore[return-value]
