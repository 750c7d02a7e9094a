"""The instance and run-config examples load with Dagster's own validation.

Each ``dagster.yaml`` goes through ``InstanceRef.from_dir``, the loader every Dagster process uses
(schema, storage and concurrency rules). Then each class it names (run launcher, run coordinator,
storage, scheduler) gets its config processed against that class's own schema, as Dagster does when
it builds the instance, without starting it: a K8sRunLauncher would contact a cluster, a Postgres
storage a database. Classes from ``dagster-k8s`` / ``dagster-postgres`` / ``dagster-celery`` are
checked only where the ``cluster`` extra is installed; elsewhere those tests skip with that reason.
"""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._config import process_config, resolve_to_config_type
from dagster._core.instance.ref import InstanceRef
from dagster._serdes import ConfigurableClassData

from pipelines.definitions import ALL_ASSETS_JOB, defs
from pipelines.resources import DUCKDB_POOL

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
INSTANCE_EXAMPLES = {
    "local": REPO / "dagster.yaml",
    "k8s": DEPLOY / "dagster.k8s.yaml",
    "celery": DEPLOY / "dagster.celery.yaml",
}
# what the examples read from the environment, as a deployment would provide it
DEPLOY_ENV = {
    "DAGSTER_PG_HOST": "riskstrat-postgresql",
    "DAGSTER_PG_USERNAME": "dagster",
    "DAGSTER_PG_PASSWORD": "not-a-real-password",
    "DAGSTER_PG_DB": "dagster",
    "RISKSTRAT_IMAGE": "registry.example/riskstrat:0.1.0",
    "RISKSTRAT_CELERY_BROKER": "redis://redis:6379/0",
    "RISKSTRAT_CELERY_BACKEND": "redis://redis:6379/1",
}
CLUSTER_MODULES = ("dagster_k8s", "dagster_postgres", "dagster_celery")


@pytest.fixture
def deploy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in DEPLOY_ENV.items():
        monkeypatch.setenv(name, value)


def instance_ref(example: Path, tmp_path: Path) -> InstanceRef:
    """Load ``example`` as DAGSTER_HOME/dagster.yaml with Dagster's own loader (raises on any error)."""
    shutil.copy(example, tmp_path / "dagster.yaml")
    return InstanceRef.from_dir(str(tmp_path))


def named_classes(ref: InstanceRef) -> dict[str, ConfigurableClassData]:
    slots = {
        "run_launcher": ref.run_launcher_data,
        "run_coordinator": ref.run_coordinator_data,
        "storage": ref.storage_data,
        "run_storage": ref.run_storage_data,
        "event_log_storage": ref.event_storage_data,
        "schedule_storage": ref.schedule_storage_data,
        "scheduler": ref.scheduler_data,
        "compute_logs": ref.compute_logs_data,
    }
    return {slot: data for slot, data in slots.items() if data is not None}


def check_class_config(data: ConfigurableClassData) -> dict:
    """The class's config processed against its own schema (env references resolved), as building it would."""
    klass = getattr(importlib.import_module(data.module_name), data.class_name)
    result = process_config(resolve_to_config_type(klass.config_type()), data.config_dict)
    assert result.success, f"{data.class_name}: {[error.message for error in result.errors or []]}"
    return result.value


def is_cluster_class(data: ConfigurableClassData) -> bool:
    return data.module_name.split(".")[0] in CLUSTER_MODULES


@pytest.mark.parametrize("name", sorted(INSTANCE_EXAMPLES))
def test_instance_example_passes_dagsters_loader(name: str, tmp_path: Path) -> None:
    ref = instance_ref(INSTANCE_EXAMPLES[name], tmp_path)
    pools = ref.settings["concurrency"]["pools"]
    # one writer at a time in every pool, counted per step across all runs: the "duckdb" pool's rule
    assert (pools["default_limit"], pools["granularity"]) == (1, "op")
    assert ref.settings["telemetry"] == {"enabled": False}
    assert ref.run_coordinator_data.class_name == "QueuedRunCoordinator"


def test_local_instance_starts_with_the_duckdb_pool_limited_to_one(tmp_path: Path) -> None:
    with dg.DagsterInstance.from_ref(instance_ref(INSTANCE_EXAMPLES["local"], tmp_path)) as instance:
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
        assert instance.event_log_storage.get_concurrency_info(DUCKDB_POOL).limit == 1


def test_cluster_examples_name_the_cluster_classes(tmp_path: Path) -> None:
    (tmp_path / "k8s").mkdir()
    (tmp_path / "celery").mkdir()
    k8s = named_classes(instance_ref(INSTANCE_EXAMPLES["k8s"], tmp_path / "k8s"))
    celery = named_classes(instance_ref(INSTANCE_EXAMPLES["celery"], tmp_path / "celery"))
    assert (k8s["run_launcher"].module_name, k8s["run_launcher"].class_name) == ("dagster_k8s", "K8sRunLauncher")
    for classes in (k8s, celery):
        assert classes["storage"].class_name == "DagsterPostgresStorage"
        assert {classes[slot].class_name for slot in ("run_storage", "event_log_storage", "schedule_storage")} == {
            "PostgresRunStorage", "PostgresEventLogStorage", "PostgresScheduleStorage"}
    assert celery["run_launcher"].class_name == "DefaultRunLauncher"


@pytest.mark.parametrize("name", sorted(INSTANCE_EXAMPLES))
def test_dagster_classes_build_from_their_example_config(name: str, tmp_path: Path, deploy_env: None) -> None:
    built = [data.rehydrate() for data in named_classes(instance_ref(INSTANCE_EXAMPLES[name], tmp_path)).values()
             if not is_cluster_class(data)]  # run coordinator, scheduler, compute logs; local storage and launcher
    assert any(type(obj).__name__ == "QueuedRunCoordinator" for obj in built)


@pytest.mark.parametrize("name", ["k8s", "celery"])
def test_cluster_classes_accept_their_example_config(name: str, tmp_path: Path, deploy_env: None) -> None:
    for module in CLUSTER_MODULES:
        pytest.importorskip(module, reason="the cluster extra is not installed")
    checked = []
    for data in named_classes(instance_ref(INSTANCE_EXAMPLES[name], tmp_path)).values():
        if is_cluster_class(data):
            check_class_config(data)
            checked.append(data.class_name)
    assert "DagsterPostgresStorage" in checked


def test_k8s_run_launcher_builds_from_the_example(tmp_path: Path, deploy_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    launcher_module = pytest.importorskip("dagster_k8s.launcher", reason="the cluster extra is not installed")
    # everything but reading a kubeconfig / the in-cluster service account, which needs a cluster
    monkeypatch.setattr(launcher_module, "load_kubernetes_config", lambda **_: None)
    launcher = named_classes(instance_ref(INSTANCE_EXAMPLES["k8s"], tmp_path))["run_launcher"].rehydrate()
    assert launcher.job_namespace == "riskstrat"
    assert launcher.job_image == DEPLOY_ENV["RISKSTRAT_IMAGE"]
    assert "RISKSTRAT_EXECUTOR=k8s" in launcher.env_vars
    # every run and step pod mounts the one volume that holds the warehouse
    assert [mount.get("mountPath", mount.get("mount_path")) for mount in launcher.volume_mounts] == ["/riskstrat-home"]


def test_k8s_run_config_names_real_steps_of_the_whole_pipeline_job() -> None:
    from dagster._core.execution.api import create_execution_plan

    run_config = yaml.safe_load((DEPLOY / "run_config.k8s.yaml").read_text())
    step_keys = set(create_execution_plan(defs.resolve_job_def(ALL_ASSETS_JOB)).step_keys_to_execute)
    assert set(run_config["execution"]["config"]["per_step_k8s_config"]) <= step_keys


def test_k8s_run_config_validates_against_the_job_on_the_k8s_executor() -> None:
    pytest.importorskip("dagster_k8s", reason="the cluster extra is not installed")
    from pipelines.executors import executor_from_environment

    from pipelines.definitions import build_definitions, settings_from_environment

    k8s = build_definitions(settings_from_environment(), executor=executor_from_environment({"RISKSTRAT_EXECUTOR": "k8s"}))
    run_config = yaml.safe_load((DEPLOY / "run_config.k8s.yaml").read_text())
    dg.validate_run_config(k8s.resolve_job_def(ALL_ASSETS_JOB), run_config)


def test_celery_worker_config_reads_the_same_broker_as_the_runs(deploy_env: None) -> None:
    pytest.importorskip("dagster_celery", reason="the cluster extra is not installed")
    from dagster_celery.cli import get_validated_config

    config = get_validated_config(str(DEPLOY / "celery-worker.yaml"))  # what `dagster-celery worker start -y` reads
    assert (config["broker"], config["backend"]) == (DEPLOY_ENV["RISKSTRAT_CELERY_BROKER"], DEPLOY_ENV["RISKSTRAT_CELERY_BACKEND"])
