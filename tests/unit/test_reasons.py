"""The one list of reasons: complete, well-formed, the only source of reasons, and what every
generated copy (README, docs/operations.md, health.lua and its copy in docs/argocd.md) shows.

The runtime check that the decision writes only declared reasons, where they are declared, is
``tests/declared_reasons.py`` (on for every test); this module holds the static half.
"""

import ast
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from supervisely_operator.api import SuperviselyTaskStatus
from supervisely_operator.api.reasons import REASONS, Reason, Site
from supervisely_operator.api.reference import BLOCKS, blocks_in, refresh
from supervisely_operator.api.status import CONDITION_REASON_PATTERN
from supervisely_operator.cli import main
from supervisely_operator.reconcile.draft import StatusDraft
from supervisely_operator.reconcile.situation import EventType
from supervisely_operator.remote.translate import classify_start_error
from supervisely_operator.supervisely import AgentId, ModuleId, SuperviselyError, TaskId, errors

from argocd_health import HEALTH_LUA
from argocd_lua import REPO

OPERATOR = REPO / "operator" / "supervisely_operator"
TOOLING = {"simulator", "devcluster", "demo"}
"""Packages that never write a resource's status or Events."""

GENERATED = {
    "README.md": {"reference", "reasons"},
    "docs/operations.md": {"reasons"},
    "docs/argocd.md": {"self-healing-reasons"},
    HEALTH_LUA.relative_to(REPO).as_posix(): {"self-healing-reasons"},
}
"""Every file with generated blocks, and the blocks it must hold."""
REGENERATE = f"regenerate with: supervisely-operator reference {' '.join(GENERATED)}"

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


def constants() -> dict[str, str]:
    return {name: value for name, value in vars(Reason).items() if name.isupper()}


def test_every_constant_is_declared_once_and_every_declaration_has_its_constant() -> None:
    values = list(constants().values())
    assert len(values) == len(set(values)), "two constants share a reason"
    assert set(values) == set(REASONS), "a Reason constant needs an entry in REASONS, and back"
    assert all(info.name == name for name, info in REASONS.items())


@pytest.mark.parametrize("name", list(REASONS))
def test_each_reason_is_a_kubernetes_reason_with_one_line_for_users(name: str) -> None:
    info = REASONS[name]
    assert re.fullmatch(CONDITION_REASON_PATTERN, name)
    assert info.sites, "say where users meet it"
    assert info.meaning
    assert "\n" not in info.meaning
    assert not info.meaning.endswith(".")


def test_the_new_reasons_of_issue_10_are_declared_as_the_contract_says() -> None:
    healing = {Reason.AWAITING_READINESS, Reason.START_DEADLINE_EXCEEDED, Reason.RESTART_REQUESTED}
    assert all(REASONS[name].heals for name in healing)
    assert not REASONS[Reason.ADOPTION_REFUSED].heals
    assert not REASONS[Reason.FAILURE_RULE_MATCHED].heals
    assert REASONS[Reason.ADOPTION_REFUSED].sites >= {Site.SYNCED}
    assert REASONS[Reason.PAUSED].sites == {Site.LOG}, "a paused resource gets no writes"


def literal_reasons(source: str) -> list[str]:
    """Reason-like string literals in code, where only a constant of the list belongs.

    A literal counts when it is passed to a call (or compared) and equals a declared reason or
    looks like one (two or more CamelCase words), or when it is given to a ``reason``.
    ``TypeVar``/``NewType`` name types with such words and are left alone.
    """
    camel = re.compile(r"[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+")

    def reason_like(node: ast.expr) -> bool:
        return isinstance(node, ast.Constant) and (
            node.value in REASONS
            or (isinstance(node.value, str) and bool(camel.fullmatch(node.value)))
        )

    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            given = [*node.args, *(k.value for k in node.keywords if k.arg != "reason")]
            if name not in {"TypeVar", "NewType"}:
                found += [argument for argument in given if reason_like(argument)]
            found += [
                k.value
                for k in node.keywords
                if k.arg == "reason" and isinstance(k.value, ast.Constant | ast.JoinedStr)
            ]
        elif isinstance(node, ast.Compare):
            found += [side for side in [node.left, *node.comparators] if reason_like(side)]
        elif isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Constant):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(getattr(t, "id", getattr(t, "attr", None)) == "reason" for t in targets):
                found.append(node.value)
    return [ast.unparse(node) for node in found]


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ('raise CredentialsUnavailable("SecretExpired", "gone")', ["'SecretExpired'"]),
        ('draft.enter(TaskPhase.RUNNING, "Running", "ok")', ["'Running'"]),
        ('Event(type=t, reason="Oops", message="x")', ["'Oops'"]),
        ('StartRefused(reason="AgentNotRunning", message="x")', ["'AgentNotRunning'"]),
        ('CallFailed(reason=f"{kind}Failed", message="x")', ["f'{kind}Failed'"]),
        ('if condition.reason == "TaskError": pass', ["'TaskError'"]),
        ('class E(Error):\n    reason = "Broken"', ["'Broken'"]),
        ("draft.enter(TaskPhase.RUNNING, Reason.RUNNING, 'Task 3 is started')", []),
        ('TaskId = NewType("TaskId", int)', []),
        ('__all__ = ["AgentNotFound"]', []),
    ],
)
def test_the_literal_scan_finds_reasons_written_as_strings(source: str, found: list[str]) -> None:
    assert literal_reasons(source) == found


def test_operator_code_takes_every_reason_from_the_list() -> None:
    """A reason written as a string would bypass the list, and so the docs and health.lua."""
    offenders = {
        path.relative_to(OPERATOR).as_posix(): literals
        for path in sorted(OPERATOR.rglob("*.py"))
        if path.relative_to(OPERATOR).parts[0] not in TOOLING
        and path != OPERATOR / "api" / "reasons.py"
        and (literals := literal_reasons(path.read_text()))
    }
    assert offenders == {}, "use a Reason constant (declare it in api/reasons.py)"


@pytest.mark.parametrize(
    ("write", "problem"),
    [
        (lambda d: d.event(EventType.NORMAL, "Bogus", "x"), "'Bogus' is not in the list"),
        (lambda d: d.not_synced(Reason.RUNNING, "x"), "'Running' is written to Synced"),
        (lambda d: d.record_error(reason=Reason.QUEUED, message="x"), "written to lastError"),
    ],
)
def test_the_runtime_check_refuses_undeclared_reasons_and_wrong_places(
    write: Callable[[StatusDraft], None], problem: str
) -> None:
    draft = StatusDraft(before=SuperviselyTaskStatus(), generation=1, now=NOW)
    with pytest.raises(AssertionError, match=re.escape(problem)):
        write(draft)


@pytest.mark.parametrize("path", list(GENERATED))
def test_generated_blocks_are_current(path: str) -> None:
    text = (REPO / path).read_text()
    assert blocks_in(text) == GENERATED[path]
    assert refresh(text) == text, REGENERATE


def test_the_self_healing_table_holds_the_condition_reasons_that_fix_themselves() -> None:
    table = re.search(r"local selfHealingReasons = \{(.*?)\}", HEALTH_LUA.read_text(), re.DOTALL)
    assert table is not None
    listed = set(re.findall(r"(\w+) = true", table[1]))
    assert listed == {i.name for i in REASONS.values() if i.heals and i.in_conditions}
    assert Reason.UNAVAILABLE in listed
    assert Reason.UNAUTHORIZED not in listed


def test_reference_refreshes_every_block_in_place_keeping_its_indentation(tmp_path: Path) -> None:
    lua = next(block for block in BLOCKS if block.name == "self-healing-reasons")
    stale = f"data: |\n    {lua.begin}\n    local selfHealingReasons = {{}}\n    {lua.end}\nrest\n"
    target = tmp_path / "argocd.md"
    target.write_text(stale)
    result = CliRunner().invoke(main, ["reference", str(target)])
    assert result.exit_code == 0, result.output
    refreshed = target.read_text()
    assert refreshed == f"data: |\n{lua.text(indent='    ')}\nrest\n"
    assert "    local selfHealingReasons = {\n      AgentNotRunning = true," in refreshed


def test_reference_refuses_a_file_without_generated_blocks(tmp_path: Path) -> None:
    target = tmp_path / "notes.md"
    target.write_text("nothing generated here\n")
    result = CliRunner().invoke(main, ["reference", str(target)])
    assert result.exit_code != 0
    assert "holds no generated block" in result.output
    assert target.read_text() == "nothing generated here\n"


def _client_errors() -> list[SuperviselyError]:
    """One error of each kind the Supervisely client raises."""
    said = errors.ServerMessage(error="nope")
    return [
        errors.Unauthorized(method="tasks.run.app", status=401, server=said),
        errors.NotFound(method="tasks.run.app", server=said),
        errors.TaskNotFound(method="tasks.run.app", task_id=TaskId(1), server=said),
        errors.AgentNotFound(method="tasks.run.app", agent_id=AgentId(1), server=said),
        errors.AppNotFound(method="tasks.run.app", app="owner/app"),
        errors.Rejected(method="tasks.run.app", status=400, server=said),
        errors.RequestTooLarge(method="tasks.run.app", server=said),
        errors.Transient(method="tasks.run.app", cause="503", attempts=4),
        errors.ProtocolError("not JSON", method="tasks.run.app"),
        errors.PaginationMismatch(method="tasks.list", total=3, collected=2),
        errors.MultipleTasksStarted(method="tasks.run.app", task_ids=[TaskId(1), TaskId(2)]),
        errors.AmbiguousApp(method="ecosystem", slug="owner/app", module_ids=[ModuleId(1)]),
    ]


@pytest.mark.parametrize("error", _client_errors(), ids=lambda error: type(error).__name__)
def test_a_refused_start_is_retried_exactly_when_the_list_says_its_reason_is(
    error: SuperviselyError,
) -> None:
    refused = classify_start_error(error)
    assert refused.reason == error.reason
    assert refused.retryable is REASONS[error.reason].retried


def test_a_refused_token_needs_a_person_and_is_retried_all_the_same() -> None:
    """Fixing the Secret must take effect without an edit of every resource."""
    info = REASONS[Reason.UNAUTHORIZED]
    assert not info.heals
    assert info.retried


def test_a_lost_start_reply_is_always_looked_up_by_its_marker_first() -> None:
    refused = classify_start_error(
        errors.StartOutcomeUnknown(method="tasks.run.app", cause="timeout", attempts=1)
    )
    assert (refused.retryable, refused.outcome_unknown) == (True, True)
    assert REASONS[refused.reason].retried
