"""The Argo CD health check of SuperviselyTask, run as Argo CD runs it, on captured objects.

``health_test.yaml`` is the specification, in Argo CD's own format, and its objects were written
by the real operator (``bench/capture_argocd_testdata.py``), every one of them. A few tests
below change one field of a captured object to reach a branch no run produces (a phase from a
newer operator, each reason of the operator's list): they say so in their names.
"""

import copy
from typing import Any

import pytest
import yaml
from lupa.lua51 import LuaError

from supervisely_operator.api.reasons import REASONS, Reason, Site

from argocd_health import HEALTH_DIR, HEALTH_LUA, HealthCase, Verdict, health_cases, run_health
from argocd_lua import REPO, documented_argocd_cm

CASES = health_cases()
CRD = REPO / "crds" / "superviselytask.yaml"
CONFIGMAP_KEY = "resource.customizations.health.supervisely.com_SuperviselyTask"


def captured(name: str) -> dict[str, Any]:
    """A deep copy of a captured object, free to change."""
    return copy.deepcopy(yaml.safe_load((HEALTH_DIR / "testdata" / name).read_text()))


def set_condition(obj: dict[str, Any], type_: str, **fields: str) -> None:
    condition = next(c for c in obj["status"]["conditions"] if c["type"] == type_)
    condition.update(fields)


@pytest.mark.parametrize("case", CASES, ids=[c.input_path for c in CASES])
def test_each_captured_object_gets_its_verdict(case: HealthCase) -> None:
    assert run_health(case.load()) == case.expected


def test_every_testdata_file_is_a_case_and_every_case_has_its_file() -> None:
    on_disk = {f"testdata/{p.name}" for p in (HEALTH_DIR / "testdata").glob("*.yaml")}
    listed = [c.input_path for c in CASES]
    assert len(listed) == len(set(listed)), "a file listed twice"
    assert set(listed) == on_disk


def test_testdata_was_captured_and_stripped_of_what_identifies_one_run() -> None:
    for path in sorted((HEALTH_DIR / "testdata").glob("*.yaml")):
        text = path.read_text()
        assert text.startswith("# Captured by bench/capture_argocd_testdata.py"), path.name
        metadata = yaml.safe_load(path.read_text())["metadata"]
        assert not {"uid", "resourceVersion", "managedFields"} & set(metadata), path.name


def test_every_phase_the_crd_allows_has_a_captured_object_and_a_known_verdict() -> None:
    """A phase added to the API without testdata (and a verdict for it) fails here."""
    crd = yaml.safe_load(CRD.read_text())
    status_schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    phases = set(status_schema["properties"]["phase"]["enum"])
    captured_phases = {(c.load().get("status") or {}).get("phase") for c in CASES}
    assert phases <= captured_phases
    assert "Unknown" not in {c.expected.status for c in CASES}


def test_the_cases_use_all_four_verdicts_a_live_resource_can_get() -> None:
    statuses = {c.expected.status for c in CASES}
    assert statuses == {"Healthy", "Progressing", "Degraded", "Suspended"}


def test_a_phase_from_a_newer_operator_is_unknown_not_guessed() -> None:
    obj = captured("running.yaml")
    obj["status"]["phase"] = "Paused"
    assert run_health(obj) == Verdict("Unknown", "Unknown phase Paused")


IN_CONDITIONS = [name for name, info in REASONS.items() if info.in_conditions]
IN_READY = [name for name, info in REASONS.items() if Site.PHASE in info.sites]


def expected_for(reason: str) -> str:
    return "Progressing" if REASONS[reason].heals else "Degraded"


@pytest.mark.parametrize("reason", IN_CONDITIONS)
def test_every_reason_as_synced_false_is_progressing_if_it_fixes_itself_else_degraded(
    reason: str,
) -> None:
    """From the operator's one list: the script's table is generated from it."""
    obj = captured("unavailable.yaml")
    set_condition(obj, "Synced", reason=reason, message=f"{reason} happened")
    assert run_health(obj) == Verdict(expected_for(reason), f"{reason} happened")


@pytest.mark.parametrize("reason", IN_READY)
def test_every_reason_as_ready_false_while_running_is_progressing_if_it_fixes_itself(
    reason: str,
) -> None:
    """A task that started but is not ready (AwaitingReadiness) is on its way, not Healthy."""
    obj = captured("running.yaml")
    set_condition(obj, "Ready", status="False", reason=reason, message=f"{reason} happened")
    assert run_health(obj) == Verdict(expected_for(reason), f"{reason} happened")


@pytest.mark.parametrize(
    ("name", "type_"), [("unavailable.yaml", "Synced"), ("running.yaml", "Ready")]
)
def test_a_reason_the_script_does_not_know_is_degraded(name: str, type_: str) -> None:
    """An allowlist: a reason of a newer operator, or one only Events carry, waits for a person
    until the script is regenerated."""
    obj = captured(name)
    for reason in ["SomethingNew", Reason.ADOPTED]:
        set_condition(obj, type_, status="False", reason=reason, message="new")
        assert run_health(obj) == Verdict("Degraded", "new")


@pytest.mark.parametrize("name", ["succeeded.yaml", "failed-backoff-limit.yaml", "suspended.yaml"])
def test_a_final_or_suspended_phase_wins_over_an_added_synced_false(name: str) -> None:
    """Nothing Supervisely answers now changes a task that ended or that nobody wants run."""
    obj = captured(name)
    obj["status"]["conditions"] = [
        c for c in obj["status"]["conditions"] if c["type"] != "Synced"
    ] + [{"type": "Synced", "status": "False", "reason": "Unauthorized", "message": "refused"}]
    [expected] = [c.expected for c in CASES if c.input_path == f"testdata/{name}"]
    assert run_health(obj) == expected


def test_a_failed_resource_without_conditions_falls_back_to_last_error() -> None:
    obj = captured("failed-start.yaml")
    del obj["status"]["conditions"]
    assert run_health(obj) == Verdict("Degraded", obj["status"]["lastError"]["message"])


def test_the_runner_has_no_string_library_like_argocd_cm_scripts() -> None:
    """Otherwise a script using ``string.find`` would pass here and fail in Argo CD."""
    for script in ('return {status = ("x"):upper()}', "return {status = string.upper('x')}"):
        with pytest.raises(LuaError):
            run_health({}, script)


def test_the_runner_treats_a_status_outside_argo_cds_as_unknown_as_argo_cd_does() -> None:
    verdict = run_health({}, 'return {status = "Fine", message = "?"}')
    assert verdict == Verdict("Unknown", "Lua returned an invalid health status")


def test_the_argocd_cm_snippet_in_the_docs_is_health_lua_exactly() -> None:
    assert documented_argocd_cm()[CONFIGMAP_KEY] == HEALTH_LUA.read_text()
