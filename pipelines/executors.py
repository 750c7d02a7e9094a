"""Which Dagster executor runs a job's steps: chosen once, from ``RISKSTRAT_EXECUTOR``.

=============== ====================================================================================
value           steps run
=============== ====================================================================================
(unset)         ``multiprocess``
``multiprocess`` one process per step on this machine, at most ``MULTIPROCESS_MAX_CONCURRENT`` at once
``in_process``  one after another in the run's own process (debugging, tests)
``k8s``         one Kubernetes Job per step (``dagster_k8s.k8s_job_executor``); pods inherit image,
                namespace, env and volumes from the instance's ``K8sRunLauncher``
``celery``      one Celery task per step (``dagster_celery.celery_executor``) on workers listening to
                the broker ``RISKSTRAT_CELERY_BROKER`` (results via ``RISKSTRAT_CELERY_BACKEND``)
=============== ====================================================================================

Whatever the executor, every step that writes the DuckDB warehouse runs in the instance-wide pool
``duckdb`` (limit 1), so writers stay serial across processes, pods and Celery workers alike. The
cluster executors live in the optional ``cluster`` extra; docs/cluster.md says how to deploy them.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping

import dagster as dg

from data_contracts.errors import RiskstratDataError

EXECUTOR_ENV = "RISKSTRAT_EXECUTOR"
# Sized for the project's 2-core machine: two step processes keep both cores busy. Each step process
# imports Dagster, polars, DuckDB and LightGBM (about 3 s and a few hundred MB before any work), and
# the warehouse writers wait for the one "duckdb" pool slot anyway, so more processes than cores buy
# nothing here. Dagster's own default would be one process per core of whatever machine runs it.
MULTIPROCESS_MAX_CONCURRENT = 2
CLUSTER_EXTRA = "riskstrat[cluster]"

# name -> (module, attribute, pip package) for the executors that need an optional package
_CLUSTER_EXECUTORS: dict[str, tuple[str, str, str]] = {
    "k8s": ("dagster_k8s", "k8s_job_executor", "dagster-k8s"),
    "celery": ("dagster_celery", "celery_executor", "dagster-celery"),
}
EXECUTOR_CHOICES = ("multiprocess", "in_process", *_CLUSTER_EXECUTORS)
# The Celery broker and result backend, read by the run worker when a run starts and by the workers
# (deploy/celery-worker.yaml): one setting for both sides, and for runs that schedules and sensors
# start, which carry no execution config of their own.
CELERY_BROKER_ENV = "RISKSTRAT_CELERY_BROKER"
CELERY_BACKEND_ENV = "RISKSTRAT_CELERY_BACKEND"


def _cluster_executor(choice: str) -> dg.ExecutorDefinition:
    module_name, attribute, package = _CLUSTER_EXECUTORS[choice]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        missing = exc.name or module_name
        because = "is not installed" if missing == module_name else f"cannot be imported (module {missing} is missing)"
        raise RiskstratDataError(
            f"{EXECUTOR_ENV}={choice} needs the {package} package, which {because}; "
            f"install it with pip install '{CLUSTER_EXTRA}' or unset {EXECUTOR_ENV} to run steps on this machine",
            source=EXECUTOR_ENV,
        ) from None
    return getattr(module, attribute)


def executor_from_environment(env: Mapping[str, str] = os.environ) -> dg.ExecutorDefinition:
    """The executor ``RISKSTRAT_EXECUTOR`` names: ``multiprocess`` (default), ``in_process``, ``k8s`` or ``celery``.

    Raises ``RiskstratDataError`` with one sentence when the value is unknown, the cluster package it
    needs is not installed (never an ``ImportError`` traceback), or Celery's broker settings are unset.
    """
    choice = env.get(EXECUTOR_ENV, "").strip().lower() or "multiprocess"
    if choice == "multiprocess":
        return dg.multiprocess_executor.configured({"max_concurrent": MULTIPROCESS_MAX_CONCURRENT})
    if choice == "in_process":
        return dg.in_process_executor
    if choice == "k8s":
        # unconfigured: step pods inherit image, namespace, env and volumes from the K8sRunLauncher,
        # and a run's execution config may still add per-step resources (deploy/run_config.k8s.yaml)
        return _cluster_executor(choice)
    if choice == "celery":
        celery_executor = _cluster_executor(choice)
        missing = [name for name in (CELERY_BROKER_ENV, CELERY_BACKEND_ENV) if not env.get(name, "").strip()]
        if missing:
            raise RiskstratDataError(
                f"{EXECUTOR_ENV}=celery needs {' and '.join(missing)} set (the broker and result-backend URLs "
                f"the Celery workers use, e.g. redis://redis:6379/0 and redis://redis:6379/1) for the code "
                f"location, the daemon and the workers alike",
                source=EXECUTOR_ENV,
            )
        # env references, not values: resolved when a run starts, so no URL (or password) is stored
        return celery_executor.configured(
            {"broker": {"env": CELERY_BROKER_ENV}, "backend": {"env": CELERY_BACKEND_ENV}}
        )
    raise RiskstratDataError(
        f"{EXECUTOR_ENV} must be one of {', '.join(EXECUTOR_CHOICES)} (or unset for multiprocess), "
        f"not {choice!r}",
        source=EXECUTOR_ENV,
    )
