"""The Argo CD health check and actions of SuperviselyCronTask, run as Argo CD runs them.

The objects in ``testdata/`` were written by the real operator
(``bench/capture_argocd_testdata.py``, which triggers runs rather than wait for a night); the
verdicts and menus in ``health_test.yaml`` and ``action_test.yaml`` are the specification. The
properties below run every combination of the fields the scripts read.
"""

import copy
import itertools
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from supervisely_operator.api.resource import TRIGGER_ANNOTATION
from supervisely_operator.controller.merge_patch import merge_patch

from argocd_actions import (
    ActionCase,
    DiscoveryCase,
    action_names,
    action_script,
    action_test,
    discover,
    load,
    run_action,
)
from argocd_health import HealthCase, Verdict, health_cases, run_health
from argocd_lua import CRON_CUSTOMIZATION_DIR, documented_argocd_cm

FOLDER = CRON_CUSTOMIZATION_DIR
ACTIONS = FOLDER / "actions"
HEALTH_CASES = health_cases(FOLDER)
DISCOVERY_CASES, ACTION_CASES = action_test(ACTIONS)
NOW = datetime(2026, 11, 25, 21, 30, tzinfo=UTC)
STAMP = "2026-11-25T21:30:00Z"
KIND = "supervisely.com_SuperviselyCronTask"


def captured(name: str) -> dict[str, Any]:
    return copy.deepcopy(yaml.safe_load((FOLDER / "testdata" / name).read_text()))


# --- Health -----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", HEALTH_CASES, ids=[c.input_path for c in HEALTH_CASES])
def test_each_captured_cron_task_gets_its_verdict(case: HealthCase) -> None:
    assert run_health(case.load(), folder=FOLDER) == case.expected


def test_every_testdata_file_is_a_case_was_captured_and_is_stripped() -> None:
    on_disk = sorted((FOLDER / "testdata").glob("*.yaml"))
    assert sorted(c.input_path for c in HEALTH_CASES) == [f"testdata/{p.name}" for p in on_disk]
    for path in on_disk:
        assert path.read_text().startswith("# Captured by bench/capture_argocd_testdata.py")
        metadata = yaml.safe_load(path.read_text())["metadata"]
        assert not {"uid", "resourceVersion", "managedFields"} & set(metadata), path.name


def test_the_cases_use_all_four_verdicts_a_live_cron_task_can_get() -> None:
    assert {c.expected.status for c in HEALTH_CASES} == {
        "Healthy", "Progressing", "Degraded", "Suspended"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("failed", "succeeded", "expected"),
    [
        ("2026-12-08T00:37:41.198000Z", "2026-12-08T00:40:00.100000Z", "Healthy"),
        ("2026-12-08T00:41:00.500000Z", "2026-12-08T00:40:00.100000Z", "Degraded"),
        ("2026-12-07T00:41:00.500000Z", None, "Degraded"),
    ],
)
def test_the_later_of_the_last_success_and_the_last_failure_decides(
    failed: str, succeeded: str | None, expected: str
) -> None:
    obj = captured("last-run-failed.yaml")
    obj["status"]["lastFailedTime"] = failed
    if succeeded is not None:
        obj["status"]["lastSuccessfulTime"] = succeeded
    assert run_health(obj, folder=FOLDER).status == expected


def test_a_ready_reason_the_script_does_not_know_is_degraded_with_its_message() -> None:
    obj = captured("scheduling.yaml")
    ready = obj["status"]["conditions"][0]
    ready.update(status="False", reason="SomethingNew", message="Something new happened")
    assert run_health(obj, folder=FOLDER) == Verdict("Degraded", "Something new happened")


# --- Actions ----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", DISCOVERY_CASES, ids=[c.input_path for c in DISCOVERY_CASES])
def test_each_cron_task_gets_its_actions(case: DiscoveryCase) -> None:
    assert discover(load(case.input_path, ACTIONS), folder=ACTIONS) == case.result


@pytest.mark.parametrize(
    "case", ACTION_CASES, ids=[f"{c.action}/{c.input_path}" for c in ACTION_CASES]
)
def test_each_cron_action_returns_its_expected_object(case: ActionCase) -> None:
    obj = load(case.input_path, ACTIONS)
    result = run_action(obj, case.action, now=NOW, folder=ACTIONS)
    assert result == load(case.expected_output_path, ACTIONS)


def test_every_cron_action_is_defined_listed_tested_and_every_capture_has_a_menu() -> None:
    assert action_names(ACTIONS) == ["resume", "suspend", "trigger"]
    for case in DISCOVERY_CASES:
        assert sorted(a.name for a in case.result) == action_names(ACTIONS), case.input_path
    assert sorted({case.action for case in ACTION_CASES}) == action_names(ACTIONS)
    listed = {case.input_path for case in DISCOVERY_CASES}
    assert {f"../testdata/{p.name}" for p in (FOLDER / "testdata").glob("*.yaml")} <= listed
    used = listed | {p for c in ACTION_CASES for p in (c.input_path, c.expected_output_path)}
    assert {f"testdata/{p.name}" for p in (ACTIONS / "testdata").glob("*.yaml")} <= used


LAST_TIME = {"failed": "lastFailedTime", "succeeded": "lastSuccessfulTime"}


def every_state() -> list[dict[str, Any]]:
    """Every combination of the fields the scripts read, on a captured object."""
    states = []
    for suspend, deleting, ready, running, last in itertools.product(
        [None, True, False],
        [False, True],
        [None, "Scheduling", "Suspended", "InvalidSpec"],
        [0, 2],
        [None, "failed", "succeeded"],
    ):
        obj = captured("scheduling.yaml")
        if suspend is not None:
            obj["spec"]["suspend"] = suspend
        else:
            del obj["spec"]["suspend"]
        if deleting:
            obj["metadata"]["deletionTimestamp"] = "2026-12-08T00:40:00Z"
        if ready is None:
            obj["status"]["conditions"] = []
        else:
            ok = "True" if ready == "Scheduling" else "False"
            obj["status"]["conditions"][0].update(status=ok, reason=ready, message=ready)
        obj["status"]["activeCount"] = running
        if last is not None:
            obj["status"][LAST_TIME[last]] = "2026-12-08T00:37:41.198000Z"
        states.append(obj)
    return states


STATES = every_state()


def test_discovery_never_offers_what_the_state_forbids_and_the_menu_never_moves() -> None:
    for obj in STATES:
        actions = discover(obj, folder=ACTIONS)
        enabled = {a.name for a in actions if not a.disabled}
        deleting = "deletionTimestamp" in obj["metadata"]
        suspended = obj["spec"].get("suspend") is True
        broken = any(c["reason"] == "InvalidSpec" for c in obj["status"]["conditions"])
        assert {a.name for a in actions} == {"trigger", "suspend", "resume"}
        assert ("trigger" in enabled) == (not deleting and not broken), obj
        assert ("suspend" in enabled) == (not deleting and not suspended), obj
        assert ("resume" in enabled) == (not deleting and suspended), obj


def test_every_state_gets_a_verdict_argo_cd_knows_and_never_unknown() -> None:
    for obj in STATES:
        verdict = run_health(obj, folder=FOLDER)
        assert verdict.status in {"Healthy", "Progressing", "Degraded", "Suspended"}, obj
        assert verdict.message, obj


@settings(max_examples=60)
@given(st.sampled_from(STATES), st.sampled_from(["trigger", "suspend", "resume"]))
def test_each_cron_action_changes_its_one_field_and_nothing_else(
    obj: dict[str, Any], action: str
) -> None:
    wanted = {
        "trigger": {"metadata": {"annotations": {TRIGGER_ANNOTATION: STAMP}}},
        "suspend": {"spec": {"suspend": True}},
        "resume": {"spec": {"suspend": False}},
    }[action]
    patch = merge_patch(obj, run_action(obj, action, now=NOW, folder=ACTIONS))
    current = obj["spec"].get("suspend")
    already = (action == "suspend" and current is True) or (action == "resume" and current is False)
    assert patch == ({} if already else wanted)


# --- Docs -------------------------------------------------------------------------------------


def test_the_argocd_cm_snippet_in_the_docs_holds_both_cron_scripts_exactly() -> None:
    data = documented_argocd_cm()
    assert data[f"resource.customizations.health.{KIND}"] == (FOLDER / "health.lua").read_text()
    documented = yaml.safe_load(data[f"resource.customizations.actions.{KIND}"])
    assert documented["discovery.lua"] == (ACTIONS / "discovery.lua").read_text()
    assert {d["name"]: d["action.lua"] for d in documented["definitions"]} == {
        name: action_script(name, ACTIONS) for name in action_names(ACTIONS)
    }
