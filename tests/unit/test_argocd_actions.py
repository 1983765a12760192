"""The Argo CD resource actions of SuperviselyTask, run as Argo CD runs them.

``actions/action_test.yaml`` is the specification, in Argo CD's own format: discovery on every
object the real operator wrote for the health check (``../testdata``) and on two written by hand
for what today's operator cannot produce yet (ObserveOnly, paused), and each action on an object
with the object it must return. The properties then range over every combination of the fields
discovery reads, and check that each action changes its one field and nothing else.
"""

import copy
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from lupa.lua51 import LuaError

from supervisely_operator.controller.merge_patch import merge_patch

from argocd_actions import (
    ACTIONS_DIR,
    DISCOVERY_LUA,
    PAUSED_ANNOTATION,
    REFRESH_ANNOTATION,
    RESTART_ANNOTATION,
    ActionCase,
    DiscoveryCase,
    action_names,
    action_script,
    action_test,
    discover,
    load,
    run_action,
)
from argocd_lua import CUSTOMIZATION_DIR, argocd_strftime, documented_argocd_cm, run_script

DISCOVERY_CASES, ACTION_CASES = action_test()
#: The clock of every action here: the expected outputs hold this time.
NOW = datetime(2026, 11, 25, 21, 30, tzinfo=UTC)
STAMP = "2026-11-25T21:30:00Z"
CONFIGMAP_KEY = "resource.customizations.actions.supervisely.com_SuperviselyTask"
PHASES = ["Pending", "Queued", "Running", "Stopping", "Suspended", "Succeeded", "Failed"]
UNKNOWN_PHASE = "Hibernating"  # from an operator newer than the script


def enabled(obj: dict[str, Any]) -> set[str]:
    return {action.name for action in discover(obj) if not action.disabled}


@pytest.mark.parametrize("case", DISCOVERY_CASES, ids=[c.input_path for c in DISCOVERY_CASES])
def test_each_object_gets_its_actions(case: DiscoveryCase) -> None:
    """Argo CD only checks that each action listed is among the expected; equality also fails
    when one is missing."""
    assert discover(load(case.input_path)) == case.result


@pytest.mark.parametrize(
    "case", ACTION_CASES, ids=[f"{c.action}/{c.input_path}" for c in ACTION_CASES]
)
def test_each_action_returns_its_expected_object(case: ActionCase) -> None:
    """Argo CD's own test ignores fields that the output has and the file lacks; this does not."""
    result = run_action(load(case.input_path), case.action, now=NOW)
    assert result == load(case.expected_output_path)


def test_every_action_is_defined_listed_and_tested() -> None:
    assert action_names() == ["refresh", "restart", "resume", "suspend"]
    for case in DISCOVERY_CASES:
        assert sorted(action.name for action in case.result) == action_names(), case.input_path
    assert sorted({case.action for case in ACTION_CASES}) == action_names()


def test_every_testdata_file_is_used_and_every_captured_object_has_its_actions() -> None:
    """A state captured for the health check without a row here fails: decide its menu too."""
    listed = [case.input_path for case in DISCOVERY_CASES]
    assert len(listed) == len(set(listed)), "an object listed twice"
    captured = {f"../testdata/{p.name}" for p in (CUSTOMIZATION_DIR / "testdata").glob("*.yaml")}
    assert captured <= set(listed)
    used = {*listed} | {p for c in ACTION_CASES for p in (c.input_path, c.expected_output_path)}
    own = {f"testdata/{p.name}" for p in (ACTIONS_DIR / "testdata").glob("*.yaml")}
    assert own <= used
    assert all((ACTIONS_DIR / path).is_file() for path in used)


# --- Properties -----------------------------------------------------------------------------

ABSENT = object()  # no status at all, as opposed to a status without a phase


def put(fields: dict[str, Any], key: str, value: Any) -> None:
    """Set ``key``, or leave it out for None: a live object has no nulls."""
    if value is None:
        fields.pop(key, None)
    else:
        fields[key] = value


def every_state() -> list[dict[str, Any]]:
    """Every combination of the fields discovery reads, on a captured object (about a thousand:
    few enough to try them all rather than sample)."""
    captured, states = load("testdata/running.yaml"), []
    for phase, task, suspend, policy, paused, deleting in itertools.product(
        [ABSENT, None, *PHASES, UNKNOWN_PHASE],
        [None, 1004],
        [True, False, None],
        [None, "Full", "ObserveOnly"],
        [None, "true", "false"],
        [False, True],
    ):
        obj = copy.deepcopy(captured)
        put(obj["spec"], "suspend", suspend)
        put(obj["spec"], "managementPolicy", policy)
        if paused is not None:
            obj["metadata"]["annotations"] = {PAUSED_ANNOTATION: paused}
        if deleting:
            obj["metadata"]["deletionTimestamp"] = "2026-11-25T21:29:00Z"
        if phase is ABSENT:
            del obj["status"]
        else:
            put(obj["status"], "phase", phase)
            put(obj["status"], "taskId", task)
        states.append(obj)
    return states


STATES = every_state()


@dataclass(frozen=True)
class Menu:
    """What discovery offers for one state, with the fields that decide it."""

    phase: str | None
    task: int | None
    suspend: bool | None
    observe_only: bool
    paused: bool
    deleting: bool
    listed: frozenset[str]
    enabled: frozenset[str]


@pytest.fixture(scope="module")
def menus() -> list[Menu]:
    result = []
    for obj in STATES:
        status, spec, metadata = obj.get("status") or {}, obj["spec"], obj["metadata"]
        actions = discover(obj)
        result.append(
            Menu(
                phase=status.get("phase"),
                task=status.get("taskId"),
                suspend=spec.get("suspend"),
                observe_only=spec.get("managementPolicy") == "ObserveOnly",
                paused=(metadata.get("annotations") or {}).get(PAUSED_ANNOTATION) == "true",
                deleting="deletionTimestamp" in metadata,
                listed=frozenset(a.name for a in actions),
                enabled=frozenset(a.name for a in actions if not a.disabled),
            )
        )
    return result


def test_discovery_never_offers_an_action_the_state_forbids(menus: list[Menu]) -> None:
    for m in menus:
        hands_off = m.paused or m.observe_only or m.deleting
        assert m.listed == set(action_names()), f"the menu moved: {m}"
        # The operator reads nothing of a paused resource, so even a refresh would go unanswered.
        assert ("refresh" in m.enabled) is not m.paused, m
        if hands_off:
            assert m.enabled <= {"refresh"}, m
        assert ("resume" in m.enabled) == (m.suspend is True and not hands_off), m
        if m.suspend is True or m.phase in {"Suspended", "Succeeded", "Failed", UNKNOWN_PHASE}:
            assert "suspend" not in m.enabled, m
        if m.suspend is True or m.phase in {None, "Stopping", "Suspended", UNKNOWN_PHASE}:
            assert "restart" not in m.enabled, m
        if m.phase == "Pending" and m.task is None:
            assert "restart" not in m.enabled, f"the first start is under way: {m}"


def test_a_resource_the_operator_controls_always_offers_a_way_on(menus: list[Menu]) -> None:
    """Under Full control, unpaused, and in a phase this script knows, some control is enabled;
    the one exception is the moment between a resume and the operator seeing it."""
    for m in menus:
        controlled = not (m.paused or m.observe_only or m.deleting)
        resuming = m.phase == "Suspended" and m.suspend is not True
        if controlled and m.phase != UNKNOWN_PHASE and not resuming:
            assert m.enabled & {"restart", "suspend", "resume"}, m


@st.composite
def objects(draw: st.DrawFn) -> dict[str, Any]:
    """Any of the states, with other annotations, or an empty map of them, drawn in."""
    obj = copy.deepcopy(draw(st.sampled_from(STATES)))
    annotations: dict[str, str] = draw(
        st.dictionaries(st.sampled_from(["example.com/owner", RESTART_ANNOTATION]), st.text())
    )
    empty = draw(st.booleans())  # an empty map, which gopher-json writes as []
    if annotations or empty:
        obj["metadata"]["annotations"] = obj["metadata"].get("annotations", {}) | annotations
    return obj


@settings(max_examples=100)
@given(objects(), st.sampled_from(["restart", "suspend", "resume", "refresh"]))
def test_each_action_changes_its_one_field_and_nothing_else(
    obj: dict[str, Any], action: str
) -> None:
    """The merge patch Argo CD would send holds the action's field, or nothing if it is set."""
    patches: dict[str, dict[str, Any]] = {
        "restart": {"metadata": {"annotations": {RESTART_ANNOTATION: STAMP}}},
        "refresh": {"metadata": {"annotations": {REFRESH_ANNOTATION: STAMP}}},
        "suspend": {"spec": {"suspend": True}},
        "resume": {"spec": {"suspend": False}},
    }
    wanted = patches[action]
    already = merge_patch(obj, merge_into(obj, wanted)) == {}
    assert merge_patch(obj, run_action(obj, action, now=NOW)) == ({} if already else wanted)


def merge_into(obj: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """``obj`` with the merge patch applied (RFC 7386), for patches without nulls."""
    merged = copy.deepcopy(obj)
    for key, value in patch.items():
        old = merged.get(key)
        merged[key] = merge_into(old, value) if isinstance(value, dict) and old else value
    return merged


# --- The runner is Argo CD ------------------------------------------------------------------


def test_actions_get_os_only_through_require_and_no_other_library() -> None:
    """Argo CD has no global ``os`` (its own actions ``require`` it), no string, math or io."""
    probe = """
    local os = require("os")
    return {global_os = _G.os == nil, string = string == nil, math = math == nil,
            io = io == nil, date = os.date("!%Y-%m-%dT%XZ"), time = os.time()}
    """
    result = run_script(probe, {}, now=NOW)
    assert result == {
        "global_os": True, "string": True, "math": True, "io": True,
        "date": STAMP, "time": int(NOW.timestamp()),
    }  # fmt: skip
    for library in ("string", "io", "math", "debug"):
        with pytest.raises(LuaError, match="not found"):
            run_script(f'return {{require("{library}")}}', {}, now=NOW)
    with pytest.raises(LuaError):
        run_script('return {("x"):upper()}', {}, now=NOW)


def test_discovery_and_health_get_no_clock_at_all() -> None:
    """Stricter than Argo CD: what an object offers must not depend on when it is asked."""
    with pytest.raises(LuaError, match="not found"):
        run_script('return {require("os").date()}', {}, now=None)
    assert "require" not in DISCOVERY_LUA.read_text()


@pytest.mark.parametrize(
    ("layout", "formatted"),
    [
        ("!%Y-%m-%dT%XZ", STAMP),  # the layout Argo CD's own actions use
        ("!%F %H:%M:%S %Z", "2026-11-25 21:30:00 UTC"),
        ("!%x|%p|%w|%y", "21/30/00|PM|3|26"),  # %x is Go's 15/04/05, not C's date
        ("!%a %%", "mon %"),  # Go reads the layout "mon" as text
        ("!%j %", "%j %"),  # unknown flags and a trailing % stay as they are
    ],
)
def test_os_date_formats_as_argo_cds_safe_os(layout: str, formatted: str) -> None:
    assert argocd_strftime(NOW, layout) == formatted


def test_the_restart_stamp_is_utc_whatever_the_clock_zone() -> None:
    elsewhere = NOW.astimezone(timezone(timedelta(hours=5, minutes=30)))
    obj = run_action(load("testdata/running.yaml"), "restart", now=elsewhere)
    assert obj["metadata"]["annotations"][RESTART_ANNOTATION] == STAMP


@pytest.mark.parametrize(
    "script",
    [
        "return {1, nil, 3}",  # sparse
        'return {1, x = "mixed"}',
        "return {f = function() end}",
    ],
)
def test_a_result_gopher_json_cannot_encode_is_an_error(script: str) -> None:
    with pytest.raises((TypeError, ValueError)):
        run_script(script, {}, now=None)


def test_an_empty_object_the_script_keeps_stays_an_object() -> None:
    """gopher-json writes it as [], and Argo CD puts the live object's {} back."""
    obj = {"metadata": {"name": "x", "annotations": {}}, "spec": {"params": {}, "suspend": False}}
    returned = run_action(obj, "suspend", script="obj.spec.suspend = true\nreturn obj", now=NOW)
    assert returned["spec"]["params"] == {}
    assert returned["metadata"]["annotations"] == {}
    assert merge_patch(obj, returned) == {"spec": {"suspend": True}}


# --- Docs -----------------------------------------------------------------------------------


def test_the_argocd_cm_snippet_in_the_docs_is_the_actions_folder_exactly() -> None:
    documented = yaml.safe_load(documented_argocd_cm()[CONFIGMAP_KEY])
    assert set(documented) == {"discovery.lua", "definitions"}
    assert documented["discovery.lua"] == DISCOVERY_LUA.read_text()
    definitions = documented["definitions"]
    assert all(set(d) == {"name", "action.lua"} for d in definitions)
    assert len(definitions) == len({d["name"] for d in definitions})
    assert {d["name"]: d["action.lua"] for d in definitions} == {
        name: action_script(name) for name in action_names()
    }
