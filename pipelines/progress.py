"""A Dagster logger that prints one plain line per step start, success or failure.

Used by the CLI so an analyst sees progress per asset without Dagster's debug stream.
Messages carry asset names, counts and rule names only, never row contents.
"""

from __future__ import annotations

import logging
import sys
import time

import dagster as dg

_STEP_EVENTS = {"STEP_START", "STEP_SUCCESS", "STEP_FAILURE", "ASSET_CHECK_EVALUATION"}


class _StepLineHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.started: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        if event is None or event.event_type_value not in _STEP_EVENTS:
            return
        step = (event.step_key or "").replace("ingest_", "ingest ")
        kind = event.event_type_value
        if kind == "STEP_START":
            self.started[step] = time.monotonic()
            print(f"  … {step}", file=sys.stderr, flush=True)
        elif kind == "STEP_SUCCESS":
            seconds = time.monotonic() - self.started.get(step, time.monotonic())
            print(f"  ✓ {step} ({seconds:.1f} s)", file=sys.stderr, flush=True)
        elif kind == "STEP_FAILURE":
            error = event.step_failure_data.error if event.step_failure_data else None
            detail = (event.step_failure_data.user_failure_data.description if event.step_failure_data and event.step_failure_data.user_failure_data else None)
            while error is not None and error.cause is not None:
                error = error.cause
            message = detail or (error.message.strip().splitlines()[-1] if error else "failed")
            print(f"  ✗ {step}: {message}", file=sys.stderr, flush=True)
        elif kind == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if not evaluation.passed:
                key = "/".join(evaluation.asset_key.path)
                warning = getattr(evaluation.severity, "value", "") == "WARN"
                mark, verdict = ("!", "warning") if warning else ("✗", "failed")
                print(f"  {mark} check {key}:{evaluation.check_name} {verdict}", file=sys.stderr, flush=True)


@dg.logger(description="One line per step: started, succeeded (with seconds) or failed (with the reason).")
def step_progress_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    log = logging.getLogger("riskstrat.progress")
    log.handlers = [_StepLineHandler()]
    log.setLevel(logging.DEBUG)
    log.propagate = False
    return log
