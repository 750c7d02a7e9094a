"""RISKSTRAT_EXECUTOR picks the executor the code location's jobs run with.

The cluster executors need the optional ``cluster`` extra; where it is not installed their tests
that need the real package skip, and the missing-package sentence is tested by hiding the package.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import dagster as dg
import pytest

from data_contracts.errors import RiskstratDataError
from pipelines.definitions import (
    ALL_ASSETS_JOB, build_definitions, defs, engine_from_environment, settings_from_environment,
)
from pipelines.executors import EXECUTOR_CHOICES, MULTIPROCESS_MAX_CONCURRENT, executor_from_environment

CELERY_ENV = {
    "RISKSTRAT_EXECUTOR": "celery",
    "RISKSTRAT_CELERY_BROKER": "redis://redis:6379/0",
    "RISKSTRAT_CELERY_BACKEND": "redis://redis:6379/1",
}


def _executor_config(executor: dg.ExecutorDefinition) -> dict:
    """The config the executor starts a run with, when the run config gives none."""
    result = executor.config_schema.resolve_config({})
    assert result.success, result.errors
    value = result.value
    return value["config"] if "config" in value else value


def _one_sentence(message: str) -> None:
    assert "\n" not in message and "Traceback" not in message
    assert not re.search(r"[.!?]\s+[A-Z]", message), message


def _job_executor_names(executor: dg.ExecutorDefinition) -> set[str]:
    """The executor of every job of the code location built with ``executor``, as pipelines.definitions builds it."""
    built = build_definitions(settings_from_environment(), engine_from_environment(), executor)
    return {built.resolve_job_def(job.name).executor_def.name for job in built.resolve_all_job_defs()}


@pytest.mark.parametrize("value", [None, "", "multiprocess", " Multiprocess "])
def test_default_is_multiprocess_capped_at_two_processes(value: str | None) -> None:
    env = {} if value is None else {"RISKSTRAT_EXECUTOR": value}
    executor = executor_from_environment(env)
    assert executor.name == "multiprocess"
    assert _executor_config(executor)["max_concurrent"] == MULTIPROCESS_MAX_CONCURRENT == 2


def test_in_process_runs_steps_in_the_run_process() -> None:
    assert executor_from_environment({"RISKSTRAT_EXECUTOR": "in_process"}) is dg.in_process_executor


@pytest.mark.parametrize("value", [None, "in_process"])
def test_every_job_of_the_code_location_takes_the_chosen_executor(value: str | None) -> None:
    env = {} if value is None else {"RISKSTRAT_EXECUTOR": value}
    names = _job_executor_names(executor_from_environment(env))
    assert names == {value or "multiprocess"}
    assert ALL_ASSETS_JOB in {job.name for job in defs.resolve_all_job_defs()}


def test_an_unknown_choice_lists_the_choices_in_one_sentence() -> None:
    with pytest.raises(RiskstratDataError) as raised:
        executor_from_environment({"RISKSTRAT_EXECUTOR": "spark"})
    message = str(raised.value)
    _one_sentence(message)
    assert "RISKSTRAT_EXECUTOR" in message and "'spark'" in message
    for choice in EXECUTOR_CHOICES:
        assert choice in message
    assert raised.value.source == "RISKSTRAT_EXECUTOR"


@pytest.mark.parametrize(("choice", "module", "package"), [("k8s", "dagster_k8s", "dagster-k8s"), ("celery", "dagster_celery", "dagster-celery")])
def test_a_missing_cluster_package_is_one_sentence_naming_package_and_extra(
    monkeypatch: pytest.MonkeyPatch, choice: str, module: str, package: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # import now fails as if the package were absent
    with pytest.raises(RiskstratDataError) as raised:
        executor_from_environment({**CELERY_ENV, "RISKSTRAT_EXECUTOR": choice})
    message = str(raised.value)
    _one_sentence(message)
    assert f"the {package} package, which is not installed" in message
    assert "pip install 'riskstrat[cluster]'" in message
    # no ImportError chained behind it: the CLI and the UI show the sentence alone
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_a_cluster_package_missing_its_own_dependency_names_that_dependency(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    stand_in = tmp_path / "dagster_k8s"
    stand_in.mkdir()
    (stand_in / "__init__.py").write_text("import kubernetes_client_absent_here\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "dagster_k8s", raising=False)
    with pytest.raises(RiskstratDataError) as raised:
        executor_from_environment({"RISKSTRAT_EXECUTOR": "k8s"})
    message = str(raised.value)
    _one_sentence(message)
    assert "dagster-k8s package, which cannot be imported (module kubernetes_client_absent_here is missing)" in message
    assert "riskstrat[cluster]" in message


def test_k8s_is_dagster_k8s_job_executor_for_every_job() -> None:
    dagster_k8s = pytest.importorskip("dagster_k8s", reason="the cluster extra is not installed")
    executor = executor_from_environment({"RISKSTRAT_EXECUTOR": "k8s"})
    assert executor is dagster_k8s.k8s_job_executor
    assert _job_executor_names(executor) == {"k8s"}


def test_celery_reads_broker_and_backend_when_a_run_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("dagster_celery", reason="the cluster extra is not installed")
    executor = executor_from_environment(CELERY_ENV)
    assert executor.name == "celery"
    assert _job_executor_names(executor) == {"celery"}
    # the definition holds env references: the values in force when the run starts are used
    monkeypatch.setenv("RISKSTRAT_CELERY_BROKER", "pyamqp://riskstrat@rabbitmq:5672//")
    monkeypatch.setenv("RISKSTRAT_CELERY_BACKEND", "rpc://")
    config = _executor_config(executor)
    assert (config["broker"], config["backend"]) == ("pyamqp://riskstrat@rabbitmq:5672//", "rpc://")


def test_celery_without_its_broker_settings_says_which_are_missing() -> None:
    pytest.importorskip("dagster_celery", reason="the cluster extra is not installed")
    with pytest.raises(RiskstratDataError) as raised:
        executor_from_environment({"RISKSTRAT_EXECUTOR": "celery", "RISKSTRAT_CELERY_BROKER": "redis://redis:6379/0"})
    message = str(raised.value)
    _one_sentence(message)
    assert "RISKSTRAT_CELERY_BACKEND" in message and "RISKSTRAT_CELERY_BROKER set" not in message
