"""Data problems become Dagster step failures that carry the same one-sentence message.

``surfaces_data_errors`` wraps an asset or check body: a :class:`RiskstratDataError` raised by
a library becomes a ``dg.Failure`` whose description is the error's sentence and whose metadata
marks it as a data error (with the file/table and column when known), so the UI shows the cause
and the CLI can tell a data problem (exit 2, no traceback) from a bug.

``run_step_failures`` reads those failures back from a finished in-process run: the data
error's sentence, a ``dg.Failure``'s description, or for any other error what
``data_contracts.errors.error_summary`` allows (its type, and its first line only when riskstrat
raised it or it is an OS error, so that it cannot quote member data).
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import dagster as dg

from data_contracts.errors import RiskstratDataError, error_summary, raised_by_riskstrat

DATA_ERROR_TAG = "riskstrat/data_error"

F = TypeVar("F", bound=Callable)


def data_error_failure(exc: RiskstratDataError) -> dg.Failure:
    """The step failure for a data error: its sentence and metadata saying so."""
    metadata: dict[str, str | bool] = {DATA_ERROR_TAG: True, "error_type": type(exc).__name__}
    if exc.source:
        metadata["source"] = exc.source
    if exc.column:
        metadata["column"] = exc.column
    return dg.Failure(description=str(exc), metadata=metadata, allow_retries=False)


def surfaces_data_errors(fn: F) -> F:
    """Re-raise a ``RiskstratDataError`` from ``fn`` as a ``dg.Failure`` with the same message.

    The data error stays chained as the cause, so ``--debug`` and the UI show where it was raised.
    Generator bodies (multi-assets yielding their results) stay generator functions, so Dagster
    still sees them as such.
    """
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generator_wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except RiskstratDataError as exc:
                raise data_error_failure(exc) from exc

        return generator_wrapper  # type: ignore[return-value]

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except RiskstratDataError as exc:
            raise data_error_failure(exc) from exc

    return wrapper  # type: ignore[return-value]


# Dagster's own wrapper around an exception raised in user code: the interesting error is its cause.
_DAGSTER_WRAPPERS = frozenset({"DagsterExecutionStepExecutionError", "DagsterUserCodeExecutionError"})


@dataclass(frozen=True)
class StepFailure:
    """One failed step of a run, as the CLI reports it."""

    step: str
    message: str  # the data error's sentence, a Failure's description, or a type-only summary
    data_error: bool
    source: str | None
    column: str | None
    traceback: str  # the whole chain, for --debug


def _metadata_value(metadata: dict, key: str):
    value = metadata.get(key)
    return getattr(value, "value", value)


def _user_error(error):
    """The error raised by the asset body, below Dagster's execution wrapper."""
    while error is not None and error.cls_name in _DAGSTER_WRAPPERS and error.cause is not None:
        error = error.cause
    return error


_FRAME = re.compile(r'File "(?P<file>[^"]+)", line \d+, in [^\n]*\n(?P<line>[^\n]*)')


def _raised_by_riskstrat(error) -> bool:
    """``raised_by_riskstrat`` for a serialized error: its innermost frame is a riskstrat ``raise``."""
    found = _FRAME.search(error.stack[-1]) if error.stack else None
    return bool(found) and raised_by_riskstrat(found["file"], found["line"])


def _without_type(message: str, cls_name: str | None) -> str:
    """``message`` without the ``module.Type: `` prefix a formatted exception line starts with."""
    head, sep, rest = message.partition(": ")
    if sep and cls_name and head.split(".")[-1] == cls_name:
        return rest
    return message


def step_failure_from_event(event: dg.DagsterEvent) -> StepFailure:
    """Read a ``STEP_FAILURE`` event: data error (with its sentence and source), Failure, or other."""
    data = event.step_failure_data
    error = data.error if data else None
    user = data.user_failure_data if data else None
    metadata = dict(user.metadata or {}) if user else {}
    traceback = error.to_string() if error else ""
    if user is not None and user.description:
        is_data = bool(_metadata_value(metadata, DATA_ERROR_TAG))
        return StepFailure(
            step=event.step_key or "", message=user.description, data_error=is_data,
            source=_metadata_value(metadata, "source"), column=_metadata_value(metadata, "column"),
            traceback=traceback,
        )
    raised = _user_error(error)
    if raised is None:
        message = "failed"
    else:
        # Dagster's own errors (a blocking check failed, a type check) describe the graph, not rows
        message = error_summary(
            raised.cls_name or "error", _without_type(raised.message, raised.cls_name),
            trusted=(raised.cls_name or "").startswith("Dagster") or _raised_by_riskstrat(raised),
        )
    return StepFailure(
        step=event.step_key or "", message=message, data_error=False, source=None, column=None, traceback=traceback
    )


def run_step_failures(result: dg.ExecuteInProcessResult) -> list[StepFailure]:
    """Every failed step of an in-process run, in the order they failed."""
    return [step_failure_from_event(event) for event in result.all_events if event.is_step_failure]


def run_failure_traceback(result: dg.ExecuteInProcessResult) -> str:
    """The run-level error (a failure outside any step: resources, planning), if Dagster kept one."""
    for event in result.all_events:
        if event.is_run_failure:
            error = getattr(event.event_specific_data, "error", None)
            if error is not None:
                return error.to_string()
    return ""
