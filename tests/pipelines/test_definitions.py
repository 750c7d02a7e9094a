"""The code location loads and holds exactly the asset graph the README describes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


EXPECTED_ASSET_KEYS = sorted(
    [
        *[f"raw/{e}" for e in (
            "area_sdoh_county", "area_sdoh_zip", "cm_case", "cm_contact", "cm_goal", "cm_intake_assignment", "cm_roster",
            "condition", "eligibility", "encounter", "lab_result", "medical_claim", "medication", "pharmacy_claim",
            "sdoh_screening",
        )],
        *[f"quarantine/{e}" for e in (
            "area_sdoh_county", "area_sdoh_zip", "cm_case", "cm_contact", "cm_goal", "cm_intake_assignment", "cm_roster",
            "condition", "eligibility", "encounter", "lab_result", "medical_claim", "medication", "pharmacy_claim",
            "sdoh_screening",
        )],
        "core/inpatient_stay",
        "core/diagnosis",
        "features/readmission_stay",
        "features/member_features",
        "ml/readmission_model",
        "ml/readmission_score",
        "ml/benefit_score",
        "ml/high_need_model",
        "ml/high_need_score",
        "marts/intake_list",
        "marts/kpi_readmission_monthly",
        "marts/program_effect",
        *[f"marts/{t}" for t in (
            "kpi_transition_monthly", "kpi_referral_monthly", "kpi_case_closure_monthly", "kpi_caseload_monthly",
            "kpi_contact_compliance_monthly", "kpi_documentation", "kpi_utilization_monthly", "kpi_list_performance",
            "kpi_score_drift", "kpi_definition",
        )],
        "reports/program_report",
        "reports/case_manager_worklists",
    ]
)

REPO = Path(__file__).resolve().parents[2]


def test_definitions_load_with_the_expected_asset_keys() -> None:
    from pipelines.definitions import defs

    keys = sorted("/".join(k.path) for k in defs.resolve_all_asset_keys())
    assert keys == EXPECTED_ASSET_KEYS


def test_every_raw_table_has_blocking_contract_and_conservation_checks() -> None:
    from pipelines.definitions import defs

    checks = {(("/".join(k.asset_key.path)), k.name) for k in defs.resolve_asset_graph().asset_check_keys}
    for key in EXPECTED_ASSET_KEYS:
        if key.startswith("raw/"):
            assert (key, "contract") in checks and (key, "conservation") in checks


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dagster_dev_serves_every_asset_on_loopback(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "RISKSTRAT_HOME": str(tmp_path / "home"), "DAGSTER_HOME": str(tmp_path / "dagster")}
    (tmp_path / "dagster").mkdir()
    (tmp_path / "dagster" / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    process = subprocess.Popen(
        [sys.executable, "-m", "dagster", "dev", "-m", "pipelines.definitions", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        # dagster dev started from a non-interactive shell ignores SIGINT unless it is restored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    query = json.dumps({"query": "{ assetNodes { assetKey { path } } }"}).encode()
    try:
        keys = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and keys is None:
            time.sleep(1)
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/graphql", data=query, headers={"Content-Type": "application/json"}
                )
                with urllib.request.urlopen(request, timeout=5) as response:
                    payload = json.load(response)
                nodes = payload.get("data", {}).get("assetNodes") or []
                if nodes:
                    keys = sorted("/".join(n["assetKey"]["path"]) for n in nodes)
            except OSError:
                continue
        assert keys == EXPECTED_ASSET_KEYS
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_definitions_load_and_resolve_without_any_warning() -> None:
    """A clean run prints no warnings: importing and resolving the definitions raises none."""
    script = (
        "from pipelines.definitions import defs\n"
        "defs.resolve_all_job_defs()\n"
        "defs.resolve_asset_graph()\n"
    )
    done = subprocess.run([sys.executable, "-W", "error", "-c", script], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_every_raw_extract_has_a_45_day_freshness_policy() -> None:
    from pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    fresh = sorted("/".join(k.path) for k in graph.get_all_asset_keys() if graph.get(k).freshness_policy)
    assert fresh == [k for k in EXPECTED_ASSET_KEYS if k.startswith("raw/")]
    import dagster as dg

    policy = graph.get(dg.AssetKey(["raw", "eligibility"])).freshness_policy
    assert policy.fail_window.to_timedelta().days == 45
