"""Bad input only the far side can refuse, in the exact words a user reads, and the way back.

The API server admits these resources: their specs are well formed, but Supervisely knows no
such app, agent or workspace, refuses the token or the request's size, cannot be reached, or the
credentials Secret is missing or incomplete. Each case states the condition, ``status.lastError``
and the Warning Event that ``kubectl describe`` shows for it, word for word. Beside each bad
resource a healthy one keeps running, and correcting the spec, the Secret or the agent, without
deleting anything, brings the bad one to Succeeded.
"""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pytest

from supervisely_devkit.simulator import Scenario, Simulator
from supervisely_devkit.simulator.record import CallRecord
from supervisely_operator.reconcile.launch import describe_with_marker, marker_in, marker_owner

from controller_harness import Cluster, OperatorStarter, condition, task_path, wait_until

NAMESPACE = "vision"
SECRET = "team-credentials"
HEALTHY_SECRET = "steady-credentials"
WRONG_TOKEN = "a-token-supervisely-never-issued-0000"
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens there
PROXY_LIMIT = 64 * 1024
"""The simulated proxy's client_max_body_size: small, so an oversized spec still fits kmock."""

SimulatorFactory = Callable[..., Awaitable[Simulator]]

FINISHES = "supervisely-ecosystem/sim-train-finishes"
TRAINS = {"workspaceId": 1, "moduleId": 101}
"""What every bad resource runs once corrected: an app that finishes (phase Succeeded)."""

OPERATOR_ENV = {
    # Corrections are seen at once rather than after the production cache periods.
    "SUPERVISELY_OPERATOR_LOOKUP_CACHE_SECONDS": "0.2",
    "SUPERVISELY_OPERATOR_SECRET_CACHE_SECONDS": "0.2",
}


@dataclass(frozen=True)
class Supervisely:
    """Where the simulator listens and the token it accepts."""

    url: str
    token: str


@dataclass(frozen=True)
class World:
    """What a correction acts on: the cluster, the simulator and its address."""

    cluster: Cluster
    simulator: Simulator
    sly: Supervisely


SecretData = Callable[[Supervisely], dict[str, str]]
Fix = Callable[[World], Awaitable[None]]


def good(sly: Supervisely) -> dict[str, str]:
    return {"SERVER_ADDRESS": sly.url, "API_TOKEN": sly.token}


def edit_spec(**changes: Any) -> Fix:
    """``kubectl patch --type=merge`` of the bad resource's spec (None removes a key)."""

    async def fix(world: World) -> None:
        await world.cluster.patch(task_path("bad", namespace=NAMESPACE), {"spec": changes})

    return fix


def create_secret(data: SecretData) -> Fix:
    async def fix(world: World) -> None:
        await world.cluster.create_secret(SECRET, data(world.sly), namespace=NAMESPACE)

    return fix


def update_secret(data: SecretData) -> Fix:
    """Set these keys of the Secret; the others stay."""

    async def fix(world: World) -> None:
        await world.cluster.update_secret(SECRET, data(world.sly), namespace=NAMESPACE)

    return fix


def agent_up(agent_id: int) -> Fix:
    async def fix(world: World) -> None:
        world.simulator.set_agent_status(agent_id, "running")

    return fix


@dataclass(frozen=True)
class Refusal:
    """A resource the API server admits and the far side refuses, and how the user fixes it."""

    name: str
    why: str
    spec: Mapping[str, Any]
    reason: str
    """Reason of the condition and of the Warning Event."""
    message: str
    """Message of the condition, the Warning Event and (when there is one) lastError."""
    fix: Fix
    failed: bool = False
    """True: the spec must change (Failed=True, phase Failed). False: the operator retries
    and says why in Synced=False."""
    last_error: str | None = None
    """lastError.reason, when the refusal leaves one."""
    phase: str | None = None
    secret: SecretData | None = None
    operator: Literal["token", "wrong-token", "none"] = "token"
    """The operator's own credentials: the simulator's, a refused token, or none at all."""


REFUSALS = [
    Refusal(
        "unknown-slug",
        "no ecosystem app has the slug: the spec must name another",
        {"workspaceId": 1, "appSlug": "supervisely-ecosystem/no-such-app"},
        "StartFailed",
        "Supervisely ecosystem has no app 'supervisely-ecosystem/no-such-app' (ecosystem.list)",
        edit_spec(appSlug=FINISHES),
        failed=True,
        last_error="AppNotFound",
        phase="Failed",
    ),
    Refusal(
        "unknown-module-id",
        "tasks.run.app answers 404 and the server's words name the module",
        {"workspaceId": 1, "moduleId": 999},
        "StartFailed",
        "Supervisely found nothing for tasks.run.app (404): Not found: "
        "Module with id 999 not found",
        edit_spec(moduleId=101),
        failed=True,
        last_error="NotFound",
        phase="Failed",
    ),
    Refusal(
        "unknown-agent",
        "the operator looks the named agent up before it starts anything",
        {**TRAINS, "agentId": 99},
        "StartFailed",
        "Supervisely has no agent 99 (agents.info: 404)",
        edit_spec(agentId=1),
        failed=True,
        last_error="AgentNotFound",
        phase="Failed",
    ),
    Refusal(
        "agent-not-running",
        "an agent that is down may come up: the resource waits for it, unedited",
        {**TRAINS, "agentId": 2},
        "AgentNotRunning",
        "Agent 2 is not running (status 'waiting'); the task starts when it is",
        agent_up(2),
        last_error="AgentNotRunning",
        phase="Pending",
    ),
    Refusal(
        "workspace-not-found",
        "tasks.run.app answers 404 and the server's words name the workspace",
        {"workspaceId": 99, "moduleId": 101},
        "StartFailed",
        "Supervisely found nothing for tasks.run.app (404): Not found: "
        "Workspace with id 99 not found",
        edit_spec(workspaceId=1),
        failed=True,
        last_error="NotFound",
        phase="Failed",
    ),
    Refusal(
        "params-over-the-proxy-limit",
        "the proxy's 413 refuses this spec, not an outage: sending it again cannot help",
        {**TRAINS, "params": {"epochs": 3, "weights": "w" * (PROXY_LIMIT + 1)}},
        "StartFailed",
        "Supervisely rejected tasks.run.app (413): the request is larger than the server "
        "accepts; make the app's params smaller",
        edit_spec(params={"weights": None}),
        failed=True,
        last_error="Rejected",
        phase="Failed",
    ),
    Refusal(
        "secret-token-refused",
        "the Secret's token is wrong; rotating it in the Secret is enough",
        {**TRAINS, "credentialsSecretRef": {"name": SECRET}},
        "Unauthorized",
        "Supervisely refused the API token for tasks.run.app (401): Unauthorized: "
        "Invalid API token",
        update_secret(lambda sly: {"API_TOKEN": sly.token}),
        last_error="Unauthorized",
        phase="Pending",
        secret=lambda sly: {**good(sly), "API_TOKEN": WRONG_TOKEN},
    ),
    Refusal(
        "operator-token-refused",
        "the operator's own token is wrong; a resource can bring its own in a Secret",
        TRAINS,
        "Unauthorized",
        "Supervisely refused the API token for tasks.run.app (401): Unauthorized: "
        "Invalid API token",
        edit_spec(credentialsSecretRef={"name": SECRET}),
        last_error="Unauthorized",
        phase="Pending",
        secret=good,
        operator="wrong-token",
    ),
    Refusal(
        "no-credentials-anywhere",
        "an operator installed without credentials serves only resources that name a Secret",
        TRAINS,
        "CredentialsMissing",
        "The operator has no SERVER_ADDRESS/API_TOKEN and the resource names no "
        "credentialsSecretRef",
        edit_spec(credentialsSecretRef={"name": SECRET}),
        secret=good,
        operator="none",
    ),
    Refusal(
        "secret-missing",
        "the Secret is applied after the resource (an Argo CD sync in the wrong order)",
        {**TRAINS, "credentialsSecretRef": {"name": SECRET}},
        "SecretNotFound",
        f"Secret {NAMESPACE}/{SECRET} does not exist",
        create_secret(good),
    ),
    Refusal(
        "secret-missing-a-key",
        "a Secret made with the server address only",
        {**TRAINS, "credentialsSecretRef": {"name": SECRET}},
        "SecretInvalid",
        f"Secret {NAMESPACE}/{SECRET} lacks the keys API_TOKEN",
        update_secret(lambda sly: {"API_TOKEN": sly.token}),
        secret=lambda sly: {"SERVER_ADDRESS": sly.url},
    ),
    Refusal(
        "server-unreachable",
        "nothing listens at the Secret's address: an outage as far as the operator can tell",
        {**TRAINS, "credentialsSecretRef": {"name": SECRET}},
        "Unavailable",
        "Supervisely is unavailable for tasks.run.app after 2 attempts: ConnectError: "
        f"cannot connect to {UNREACHABLE}: All connection attempts failed",
        update_secret(lambda sly: {"SERVER_ADDRESS": sly.url}),
        last_error="Unavailable",
        phase="Pending",
        secret=lambda sly: {**good(sly), "SERVER_ADDRESS": UNREACHABLE},
    ),
    Refusal(
        "server-address-not-http",
        "a Secret with an address the client cannot speak to",
        {**TRAINS, "credentialsSecretRef": {"name": SECRET}},
        "CredentialsInvalid",
        "the Supervisely server address must use http or https, not ftp",
        update_secret(lambda sly: {"SERVER_ADDRESS": sly.url}),
        secret=lambda sly: {**good(sly), "SERVER_ADDRESS": "ftp://sly.example.com"},
    ),
]


@pytest.fixture
async def simulator(simulator_factory: SimulatorFactory) -> Simulator:
    """The usual simulator, behind a proxy that takes request bodies of PROXY_LIMIT at most."""
    return await simulator_factory(Scenario.fast(max_request_bytes=PROXY_LIMIT))


def warnings_about(cluster: Cluster, name: str) -> list[tuple[str, str]]:
    return [
        (event["reason"], event["message"])
        for event in cluster.events(namespace=NAMESPACE)
        if event["type"] == "Warning" and event["involvedObject"]["name"] == name
    ]


def condition_of(cluster: Cluster, name: str, type_: str) -> dict[str, Any]:
    return condition(cluster.status(name, namespace=NAMESPACE), type_)


def tasks_named(simulator: Simulator, name: str) -> list[dict[str, Any]]:
    return [task for task in simulator.tasks() if task["meta"]["name"] == name]


def starts_of(simulator: Simulator, name: str) -> list[CallRecord]:
    """The tasks.run.app calls made for a resource (or that were too large to read)."""
    return [
        call
        for call in simulator.calls("tasks.run.app")
        if (call.body or {}).get("taskName", f"{NAMESPACE}/{name}") == f"{NAMESPACE}/{name}"
    ]


def phase_of(cluster: Cluster, name: str) -> str | None:
    phase: str | None = cluster.status(name, namespace=NAMESPACE).get("phase")
    return phase


@pytest.mark.parametrize("case", REFUSALS, ids=lambda case: case.name)
async def test_a_refusal_is_told_exactly_and_a_correction_recovers_the_same_resource(
    cluster: Cluster,
    simulator: Simulator,
    simulator_token: str,
    start_operator: OperatorStarter,
    case: Refusal,
) -> None:
    sly = Supervisely(url=simulator.base_url, token=simulator_token)
    credentials = {
        "token": good(sly),
        "wrong-token": {**good(sly), "API_TOKEN": WRONG_TOKEN},
        "none": {},
    }[case.operator]
    await start_operator(**OPERATOR_ENV, **credentials)
    steady: dict[str, Any] = {"workspaceId": 1, "moduleId": 103}  # a serving app: stays Running
    if case.operator != "token":
        await cluster.create_secret(HEALTHY_SECRET, good(sly), namespace=NAMESPACE)
        steady["credentialsSecretRef"] = {"name": HEALTHY_SECRET}
    if case.secret is not None:
        await cluster.create_secret(SECRET, case.secret(sly), namespace=NAMESPACE)
    await cluster.create_task("steady", steady, namespace=NAMESPACE)
    uid = await cluster.create_task("bad", case.spec, namespace=NAMESPACE)

    told = "Failed" if case.failed else "Synced"
    await wait_until(
        lambda: condition_of(cluster, "bad", told).get("reason") == case.reason,
        what=f"a {case.reason} condition",
    )
    said = condition_of(cluster, "bad", told)
    assert (said["status"], said["reason"], said["message"]) == (
        "True" if case.failed else "False",
        case.reason,
        case.message,
    ), case.why
    await wait_until(lambda: warnings_about(cluster, "bad"), what="a Warning Event")
    assert warnings_about(cluster, "bad") == [(case.reason, case.message)]
    status = cluster.status("bad", namespace=NAMESPACE)
    assert status.get("phase") == case.phase
    last_error = status.get("lastError")
    if case.last_error is None:
        assert last_error is None
    else:
        assert last_error is not None
        assert (last_error["reason"], last_error["message"]) == (case.last_error, case.message)
    assert tasks_named(simulator, f"{NAMESPACE}/bad") == [], "nothing of the bad one started"
    if case.failed:
        assert len(starts_of(simulator, "bad")) <= 1, "a refused start is not made again"
    await wait_until(
        lambda: phase_of(cluster, "steady") == "Running",
        what="the healthy resource running beside the bad one",
    )
    running = cluster.status("steady", namespace=NAMESPACE)

    await case.fix(World(cluster=cluster, simulator=simulator, sly=sly))
    await wait_until(
        lambda: phase_of(cluster, "bad") == "Succeeded",
        what="the corrected resource succeeded",
        within=20,
    )

    recovered = cluster.task("bad", namespace=NAMESPACE)
    assert recovered["metadata"]["uid"] == uid, "the same resource, never deleted"
    assert condition(recovered["status"], "Failed")["status"] == "False"
    assert condition(recovered["status"], "Synced")["status"] == "True"
    assert warnings_about(cluster, "bad") == [(case.reason, case.message)], "told once"
    still = cluster.status("steady", namespace=NAMESPACE)
    assert (still["phase"], still["taskId"]) == ("Running", running["taskId"]), "untouched"
    assert warnings_about(cluster, "steady") == []
    assert [r for r in cluster.api if r.method == "DELETE"] == []
    assert cluster.server_faults() == []


UNICODE_NAME = "обучение 検出器 🚀"
UNICODE_DESCRIPTION = "Модель — «детектор» ✓\n第二行 説明"
UNICODE_PARAMS = {"classes": ["кошка", "犬", "🐕"], "note": "naïve café"}


async def test_unicode_names_descriptions_and_params_reach_supervisely_intact(
    cluster: Cluster, simulator: Simulator, simulator_token: str, start_operator: OperatorStarter
) -> None:
    """Nothing in between (JSON encoding, the marker, status, Events) may mangle them."""
    await start_operator(SERVER_ADDRESS=simulator.base_url, API_TOKEN=simulator_token)
    uid = await cluster.create_task(
        "bad",
        {
            **TRAINS,
            "taskName": UNICODE_NAME,
            "description": UNICODE_DESCRIPTION,
            "params": UNICODE_PARAMS,
        },
        namespace=NAMESPACE,
    )

    await wait_until(
        lambda: phase_of(cluster, "bad") == "Succeeded", what="the task succeeded", within=10
    )
    [call] = simulator.calls("tasks.run.app")
    assert call.status == 200
    assert call.body["taskName"] == UNICODE_NAME
    marker = marker_in(call.body["description"])
    assert marker is not None
    assert marker_owner(marker) == uid
    assert call.body["description"] == describe_with_marker(UNICODE_DESCRIPTION, marker)
    assert call.body["params"] == {"state": UNICODE_PARAMS}
    [task] = simulator.tasks()
    assert (task["meta"]["name"], task["meta"]["params"]) == (
        UNICODE_NAME,
        {"state": UNICODE_PARAMS},
    )
    assert warnings_about(cluster, "bad") == []


async def test_a_start_supervisely_rejects_is_not_made_again_until_the_spec_changes(
    cluster: Cluster, simulator: Simulator, simulator_token: str, start_operator: OperatorStarter
) -> None:
    """A 400 of tasks.run.app in the server's own words (was an e2e test; nothing about it
    needs a real API server): the resource fails at once, and only an edit starts it again."""
    await start_operator(SERVER_ADDRESS=simulator.base_url, API_TOKEN=simulator_token)
    simulator.inject_fault("tasks.run.app", status=400, times=1, message="moduleId is disabled")
    await cluster.create_task("refused", TRAINS, namespace=NAMESPACE)
    await wait_until(lambda: phase_of(cluster, "refused") == "Failed", what="phase Failed")
    last_error = cluster.status("refused", namespace=NAMESPACE)["lastError"]
    assert last_error["reason"] == "Rejected"
    assert "moduleId is disabled" in last_error["message"]
    assert len(starts_of(simulator, "refused")) == 1

    await cluster.patch(task_path("refused", namespace=NAMESPACE), {"spec": {"params": {"v": 2}}})
    await wait_until(lambda: phase_of(cluster, "refused") == "Succeeded", what="phase Succeeded")
    assert len(starts_of(simulator, "refused")) == 2
