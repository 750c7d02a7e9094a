"""A Dagster logger that prints one plain line per step start, success or failure.

Used by the CLI so an analyst sees progress per asset without Dagster's debug stream.
Messages carry asset names, counts and rule names only, never row contents: a failed step
shows its data error or Failure sentence, or for any other error only what
``pipelines.failures.error_summary`` allows.
"""

from __future__ import annotations

import logging
import sys
import time

import dagster as dg

from pipelines.failures import step_failure_from_event

_STEP_EVENTS = {"STEP_START", "STEP_SUCCESS", "STEP_FAILURE", "ASSET_CHECK_EVALUATION"}


def step_label(step_key: str) -> str:
    """How a step is named on the terminal: ``ingest eligibility``, ``features__member_features``."""
    return step_key.replace("ingest_", "ingest ", 1) if step_key.startswith("ingest_") else step_key


class _StepLineHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.started: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        if event is None or event.event_type_value not in _STEP_EVENTS:
            return
        step = step_label(event.step_key or "")
        kind = event.event_type_value
        if kind == "STEP_START":
            self.started[step] = time.monotonic()
            print(f"  … {step}", file=sys.stderr, flush=True)
        elif kind == "STEP_SUCCESS":
            seconds = time.monotonic() - self.started.get(step, time.monotonic())
            print(f"  ✓ {step} ({seconds:.1f} s)", file=sys.stderr, flush=True)
        elif kind == "STEP_FAILURE":
            print(f"  ✗ {step}: {step_failure_from_event(event).message}", file=sys.stderr, flush=True)
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
