"""One chaos run: a fleet of three kinds of app, a user acting at random, an operator killed at
random moments, a Supervisely that fails, and the invariants the operator promises.

With ``replicas`` above one the operator runs as peered replicas; then the run kills mostly the
acting one, restarts the API server now and then (``apiserver_restarts``, each down for
``apiserver_down`` seconds), and reads from the replicas' logs when each acted: two of them
acting at once is a violation, and the report gives the longest failover.

The kinds: serving apps (run until stopped), training apps that finish after a few seconds, and
apps that fail and are restarted until their backoff limit. Meanwhile the simulator answers
5 % of calls (and the first two starts) with 503, 2 % of starts with 502 after creating the
task, drops 1 % of reads, holds 1 % of starts past the client's timeout and only then carries
them out, and now and then answers a burst of 429 with Retry-After.

The invariants are read from outside: the simulator's tasks (each description ends with the start
marker, so names its resource's uid) and timelines, and the API server's objects.
"""

import asyncio
import itertools
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import httpx

from supervisely_devkit.demo.process import log_errors
from supervisely_devkit.simulator import Scenario
from supervisely_operator.api import resource
from supervisely_operator.reconcile.launch import marker_in, marker_owner

from chaosbench.acting import Window, overlaps
from chaosbench.replicas import Kill, Replicas
from scalebench.kube import Kube, KubeRequestError, TaskObjects, kube_session
from scalebench.processes import SimulatorProcess

Log = Callable[[str], None]
RestartApiServer = Callable[[float], None]
"""Stops the API server, keeps it down that many seconds, starts it again (blocking)."""
PEERING: Final = "chaos"

REQUEST_TIMEOUT: Final = 1.5
START_GRACE: Final = 4.0
HELD_START: Final = (REQUEST_TIMEOUT + START_GRACE) / 2
"""Longer than the client waits, shorter than the grace: the start must be adopted, not made
again (a start held past the grace is the stray case, tested on its own)."""
OPERATOR_ENV: Final = {
    "SUPERVISELY_OPERATOR_POLL_INTERVAL": "1",
    "SUPERVISELY_OPERATOR_TRANSITION_POLL_INTERVAL": "0.3",
    "SUPERVISELY_OPERATOR_IDLE_POLL_INTERVAL": "3",
    "SUPERVISELY_OPERATOR_RESYNC_INTERVAL": "30",
    "SUPERVISELY_OPERATOR_START_GRACE": f"{START_GRACE:g}",
    "SUPERVISELY_OPERATOR_REQUEST_TIMEOUT": f"{REQUEST_TIMEOUT:g}",
    "SUPERVISELY_OPERATOR_REQUEST_ATTEMPTS": "3",
    "SUPERVISELY_OPERATOR_LOG_TAIL_LINES": "0",
}

SERVE: Final = "serve"
FINISH: Final = "finish"
FAIL: Final = "fail"
MODULES: Final = {SERVE: 9001, FINISH: 9011, FAIL: 9021}
FAIL_RESTARTS: Final = 2
EXPECTED_PHASE: Final = {SERVE: "Running", FINISH: "Succeeded", FAIL: "Failed"}
LIVE: Final = frozenset({"queued", "consumed", "started", "deployed"})
ENDED: Final = frozenset({"stopped", "finished", "error"})
FOREVER: Final = datetime.max.replace(tzinfo=UTC)

FAULTS: Final = [
    # However few calls a starved run makes, its first two starts meet a 503.
    {"method": "tasks.run.app", "status": 503, "times": 2},
    {"method": "tasks.run.app", "delay": HELD_START, "probability": 0.01},
    {"method": "tasks.run.app", "status": 502, "after_effect": True, "probability": 0.02},
    {"method": "tasks.info", "drop": True, "probability": 0.01},
    {"method": "tasks.list", "drop": True, "probability": 0.01},
    {"method": "*", "status": 503, "probability": 0.05},
]
BURST_OF_429: Final = {"method": "*", "status": 429, "retry_after": 1, "times": 15}


@dataclass(frozen=True)
class ChaosPlan:
    """How big and how rough one run is."""

    resources: int
    kills: int
    churn_seconds: float
    seed: int = 1
    settle_seconds: float = 120.0
    faults: bool = True
    actions_per_second: float = 4.0
    replicas: int = 1
    apiserver_restarts: int = 0
    apiserver_down: float = 3.0
    peering_lifetime: int = 10
    peering_renew_deadline: float = 7.0
    peering_retry_period: float = 2.0

    def peering_env(self) -> dict[str, str]:
        return {
            "SUPERVISELY_OPERATOR_PEERING": PEERING,
            "SUPERVISELY_OPERATOR_PEERING_LIFETIME": str(self.peering_lifetime),
            "SUPERVISELY_OPERATOR_PEERING_RENEW_DEADLINE": f"{self.peering_renew_deadline:g}",
            "SUPERVISELY_OPERATOR_PEERING_RETRY_PERIOD": f"{self.peering_retry_period:g}",
        }


@dataclass
class Tracked:
    """One resource as the user made it, and what the user did to it since."""

    name: str
    kind: str
    uid: str
    suspended: bool = False
    deleted: bool = False
    resumes: int = 0
    edits: int = 0

    def allowed_starts(self) -> int:
        """1 + restarts + the user's resumes and edits; each of them may start a task, and a
        failing app may be restarted up to its backoff limit after each."""
        per_start = 1 + (FAIL_RESTARTS if self.kind == FAIL else 0)
        return (1 + self.resumes + self.edits) * per_start


@dataclass
class ChaosReport:
    """What happened, and every invariant that did not hold."""

    plan: ChaosPlan
    created: int = 0
    actions: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    kills: int = 0
    tasks: int = 0
    settled_s: float | None = None
    faults: Counter[str] = field(default_factory=Counter)
    """Calls the simulator answered with a fault, by fault."""
    violations: list[str] = field(default_factory=list)
    apiserver_restarts: int = 0
    windows: list[Window] = field(default_factory=list)
    """When each replica acted (several replicas only)."""
    overlaps: list[Window] = field(default_factory=list)
    """When two replicas acted at once."""
    failovers: list[tuple[datetime, float]] = field(default_factory=list)
    """Each death of the acting replica, and the seconds until a replica acted again."""
    outages: list[tuple[datetime, datetime]] = field(default_factory=list)
    """When the API server was down (from the stop to ready again)."""
    kills_log: list[Kill] = field(default_factory=list)
    """Every kill, acting replica or not."""

    def _faults_around(self, died: datetime, seconds: float) -> list[str]:
        """What else went wrong from 15 s before a death to the end of its failover: an API
        server down, another kill (say, of the standby about to take over)."""
        before, after = died - timedelta(seconds=15), died + timedelta(seconds=seconds)
        around = [
            f"API server down {start:%H:%M:%S}-{end:%H:%M:%S}"
            for start, end in self.outages
            if start < after and before < end
        ]
        around += [
            f"{kill.replica} killed {kill.at:%H:%M:%S}"
            for kill in self.kills_log
            if before < kill.at < after and kill.at != died
        ]
        return around

    def slow_failovers(self, over: float = 15.0) -> list[str]:
        """Each failover longer than ``over`` seconds, with the other faults around it."""
        return [
            f"{seconds:.1f} s after {died:%H:%M:%S}; "
            f"{', '.join(self._faults_around(died, seconds)) or 'no other fault'}"
            for died, seconds in self.failovers
            if seconds > over
        ]

    def single_fault_failovers(self) -> list[float]:
        """The failovers with no other fault around them: a standby that is itself restarting
        waits the lifetime from its first sight of the claim, and nobody acts while the API
        server is down, so those lengthen a failover by their own length."""
        return [
            seconds for died, seconds in self.failovers if not self._faults_around(died, seconds)
        ]

    def summary(self) -> str:
        actions = ", ".join(f"{name} {count}" for name, count in sorted(self.actions.items()))
        settled = "not settled" if self.settled_s is None else f"settled in {self.settled_s:.0f} s"
        faults = ", ".join(f"{name} {count}" for name, count in sorted(self.faults.items()))
        replicas = ""
        if self.plan.replicas > 1:
            both = sum(window.seconds for window in self.overlaps)
            longest = max((seconds for _, seconds in self.failovers), default=0.0)
            clear = self.single_fault_failovers()
            replicas = (
                f"{self.plan.replicas} replicas, {self.apiserver_restarts} API-server restarts, "
                f"{len(self.windows)} acting windows, {len(self.overlaps)} with two acting "
                f"({both:.3f} s), failover {len(self.failovers)}x, longest {longest:.1f} s "
                f"({max(clear, default=0.0):.1f} s of {len(clear)} with no other fault around); "
            )
        return (
            f"{self.created} resources, {self.tasks} tasks, {self.kills} kills; {replicas}"
            f"{actions}; faults: {faults or 'none'}; {settled}; "
            f"{len(self.violations)} violations"
        )


def chaos_scenario(plan: ChaosPlan) -> Scenario:
    """Short phases, the three kinds of app, and the fault mix (when ``plan.faults``)."""
    return Scenario.model_validate(
        {
            "seed": plan.seed,
            "durations": {
                "queued": 0.2,
                "consumed": 0.2,
                "running": 1.0,
                "terminating": 0.3,
                "ready_delay": 0.2,
            },
            "modules": [
                _module(SERVE, outcome="serve"),
                _module(FINISH, outcome="finish", durations={"running": 6.0}),
                _module(FAIL, outcome="error"),
            ],
            "faults": FAULTS if plan.faults else [],
        }
    )


def _module(kind: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": MODULES[kind],
        "slug": f"chaos/{kind}",
        "name": f"Chaos: {kind}",
        "versions": ["v1.0.0"],
        **fields,
    }


def spec_of(kind: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"workspaceId": 1, "agentId": 1, "moduleId": MODULES[kind]}
    if kind == FAIL:
        spec["backoff"] = {"limit": FAIL_RESTARTS, "initialDelaySeconds": 1, "maxDelaySeconds": 2}
    return spec


def manifest(name: str, kind: str) -> dict[str, Any]:
    return {
        "apiVersion": resource.API_VERSION,
        "kind": resource.KIND,
        "metadata": {"name": name, "labels": {"chaos.supervisely.com/kind": kind}},
        "spec": spec_of(kind),
    }


async def run_chaos(
    plan: ChaosPlan,
    *,
    kubeconfig: Path,
    namespace: str,
    workdir: Path,
    token: str,
    log: Log,
    restart_apiserver: RestartApiServer | None = None,
) -> ChaosReport:
    """The whole run; the report lists every invariant that failed (an empty list: all held).

    ``restart_apiserver`` is needed for ``plan.apiserver_restarts``."""
    report = ChaosReport(plan=plan)
    rng = random.Random(plan.seed)
    with SimulatorProcess(
        scenario=chaos_scenario(plan), token=token, workdir=workdir, name="simulator-chaos"
    ) as simulator:
        async with kube_session(kubeconfig) as kube, simulator.admin() as admin:
            if plan.replicas > 1:
                await _make_peering(kube)
            replicas = Replicas.make(
                plan.replicas,
                kubeconfig=kubeconfig,
                server=simulator.base_url,
                token=token,
                workdir=workdir,
                env=OPERATOR_ENV,
                peering=plan.peering_env(),
            )
            await replicas.start()
            try:
                objects = TaskObjects(kube, namespace)
                fleet: dict[str, Tracked] = {}
                user = asyncio.Lock()  # held by each user action, and through an API outage
                began = time.monotonic()
                await asyncio.gather(
                    _churn(plan, objects, fleet, report, rng, user, log),
                    _kill(plan, replicas, report, rng, log),
                    _bursts(plan, admin, began),
                    _restarts(plan, restart_apiserver, report, random.Random(plan.seed), user, log),
                )
                if plan.faults:
                    (await admin.delete("faults")).raise_for_status()
                log(f"  churn over after {time.monotonic() - began:.0f} s; settling")
                report.settled_s = await _settle(plan, objects, fleet, log)
                await _check(report, objects, admin, fleet, token, replicas, log)
            finally:
                await replicas.stop()
    return report


async def _make_peering(kube: Kube) -> None:
    """kopf's peering object, as the chart makes it (its CRD is applied with the operator's)."""
    body = {
        "apiVersion": "kopf.dev/v1",
        "kind": "ClusterKopfPeering",
        "metadata": {"name": PEERING},
    }
    async with kube.session.post(
        kube.url("/apis/kopf.dev/v1/clusterkopfpeerings"), json=body
    ) as reply:
        if reply.status not in (201, 409):
            reply.raise_for_status()


async def _churn(
    plan: ChaosPlan,
    objects: TaskObjects,
    fleet: dict[str, Tracked],
    report: ChaosReport,
    rng: random.Random,
    user: asyncio.Lock,
    log: Log,
) -> None:
    """The user: create the fleet over the first third, then act at random on what exists."""
    deadline = time.monotonic() + plan.churn_seconds
    create_until = time.monotonic() + plan.churn_seconds / 3
    pause = 1.0 / plan.actions_per_second
    while time.monotonic() < deadline:
        if report.created < plan.resources and (
            time.monotonic() < create_until or rng.random() < 0.3
        ):
            async with user:
                await _create_next(objects, fleet, report)
            # Creation is a burst (kubectl apply of a directory); acts come at the user's pace.
            await asyncio.sleep(0 if time.monotonic() < create_until else pause)
            continue
        alive = [tracked for tracked in fleet.values() if not tracked.deleted]
        if alive:
            async with user:
                await _act(rng.choice(alive), objects, report, rng)
        await asyncio.sleep(pause * rng.uniform(0.5, 1.5))
    while report.created < plan.resources:  # a short run still makes the whole fleet
        async with user:
            await _create_next(objects, fleet, report)
    log(f"  {report.created} resources, {sum(report.actions.values())} user actions")


async def _create_next(
    objects: TaskObjects, fleet: dict[str, Tracked], report: ChaosReport
) -> None:
    """The next resource of the fleet: half serve, a quarter finish, a quarter fail."""
    name = f"chaos-{report.created:04d}"
    kind = (SERVE, SERVE, FINISH, FAIL)[report.created % 4]
    created = await objects.create(manifest(name, kind))
    assert created is not None, f"{name} existed before the run"
    fleet[name] = Tracked(name, kind, created["metadata"]["uid"])
    report.created += 1


async def _act(
    tracked: Tracked, objects: TaskObjects, report: ChaosReport, rng: random.Random
) -> None:
    roll = rng.random()
    try:
        if roll < 0.25:
            tracked.suspended = not tracked.suspended
            await objects.patch_spec(tracked.name, {"suspend": tracked.suspended})
            if not tracked.suspended:
                tracked.resumes += 1
            report.actions["resume" if not tracked.suspended else "suspend"] += 1
        elif roll < 0.5:
            tracked.edits += 1
            await objects.patch_spec(tracked.name, {"params": {"revision": tracked.edits}})
            report.actions["edit"] += 1
        elif roll < 0.6:
            tracked.deleted = True
            await objects.delete(tracked.name)
            report.actions["delete"] += 1
        else:
            report.actions["look"] += 1  # most of the time a user only looks
    except KubeRequestError as error:
        report.violations.append(f"the API server refused a user action on {tracked.name}: {error}")


async def _kill(
    plan: ChaosPlan, replicas: Replicas, report: ChaosReport, rng: random.Random, log: Log
) -> None:
    """SIGKILL the operator (mostly the acting replica) ``plan.kills`` times at random moments of
    the churn, and start it again at once."""
    moments = sorted(rng.uniform(0.05, 0.95) * plan.churn_seconds for _ in range(plan.kills))
    began = time.monotonic()
    for moment in moments:
        await asyncio.sleep(max(0.0, began + moment - time.monotonic()))
        await replicas.kill_one(rng)
        report.kills += 1
    if plan.kills:
        acting = sum(kill.acting for kill in replicas.kills)
        which = f" ({acting} of the acting replica)" if plan.replicas > 1 else ""
        log(f"  {report.kills} kills{which}")


async def _restarts(
    plan: ChaosPlan,
    restart_apiserver: RestartApiServer | None,
    report: ChaosReport,
    rng: random.Random,
    user: asyncio.Lock,
    log: Log,
) -> None:
    """Restart the API server ``plan.apiserver_restarts`` times at random moments of the churn.

    The user waits meanwhile (their requests would fail, and a write whose answer is lost would
    leave the run unsure what the spec says); the replicas do not: riding it out is the test.
    """
    if not plan.apiserver_restarts:
        return
    if restart_apiserver is None:
        raise ValueError("apiserver_restarts needs a way to restart the API server")
    moments = sorted(
        rng.uniform(0.1, 0.9) * plan.churn_seconds for _ in range(plan.apiserver_restarts)
    )
    began = time.monotonic()
    for moment in moments:
        await asyncio.sleep(max(0.0, began + moment - time.monotonic()))
        async with user:
            down = datetime.now()
            await asyncio.to_thread(restart_apiserver, plan.apiserver_down)
            report.outages.append((down, datetime.now()))
        report.apiserver_restarts += 1
    log(f"  {report.apiserver_restarts} API-server restarts")


async def _bursts(plan: ChaosPlan, admin: httpx.AsyncClient, began: float) -> None:
    """A burst of 429 with Retry-After every 10 s of the churn."""
    if not plan.faults:
        return
    while time.monotonic() + 10 < began + plan.churn_seconds:
        await asyncio.sleep(10)
        (await admin.post("faults", json=BURST_OF_429)).raise_for_status()


def expected_phase(tracked: Tracked) -> str:
    return "Suspended" if tracked.suspended else EXPECTED_PHASE[tracked.kind]


async def _settle(
    plan: ChaosPlan, objects: TaskObjects, fleet: dict[str, Tracked], log: Log
) -> float | None:
    """Seconds until every resource shows the phase its spec and its app imply, and every
    deleted one is gone; None if that does not happen within ``plan.settle_seconds``."""
    began = time.monotonic()
    pending: list[str] = []
    while time.monotonic() - began < plan.settle_seconds:
        stored = {item["metadata"]["name"]: item for item in await objects.list()}
        pending = []
        for name, tracked in fleet.items():
            item = stored.get(name)
            if tracked.deleted:
                if item is not None:
                    pending.append(f"{name} not gone")
            elif item is None:
                pending.append(f"{name} missing")
            elif (item.get("status") or {}).get("phase") != expected_phase(tracked):
                phase = (item.get("status") or {}).get("phase")
                pending.append(f"{name} ({tracked.kind}) {phase}, not {expected_phase(tracked)}")
        if not pending:
            return time.monotonic() - began
        await asyncio.sleep(1.0)
    log(f"  not settled after {plan.settle_seconds:.0f} s: {pending[:10]}")
    return None


@dataclass(frozen=True)
class RemoteRecord:
    """One task as the simulator recorded it: whose it is, and when it was live."""

    task_id: int
    owner: str | None
    status: str
    live_from: datetime | None
    live_until: datetime | None


def tasks_of(rendered: list[dict[str, Any]], timelines: list[dict[str, Any]]) -> list[RemoteRecord]:
    owners = {}
    for task in rendered:
        marker = marker_in(task.get("description") or "")
        owners[task["id"]] = marker_owner(marker) if marker else None
    tasks = []
    for timeline in timelines:
        live_from = live_until = None
        for transition in timeline["transitions"]:
            at = datetime.fromisoformat(transition["at"])
            if transition["status"] in LIVE and live_from is None:
                live_from = at
            elif transition["status"] not in LIVE and live_from is not None and live_until is None:
                live_until = at
        tasks.append(
            RemoteRecord(
                timeline["id"],
                owners.get(timeline["id"]),
                timeline["status"],
                live_from,
                live_until,
            )
        )
    return tasks


async def _check(
    report: ChaosReport,
    objects: TaskObjects,
    admin: httpx.AsyncClient,
    fleet: dict[str, Tracked],
    token: str,
    replicas: Replicas,
    log: Log,
) -> None:
    """Every invariant of the issue, each failure one line in ``report.violations``."""
    await asyncio.sleep(1.0)  # tasks asked to stop at the very end finish terminating
    report.windows = replicas.windows(until=datetime.now())
    report.overlaps = overlaps(report.windows)
    report.failovers = replicas.failovers(report.windows)
    report.kills_log = list(replicas.kills)
    report.violations += acting_violations(report.overlaps)
    rendered = (await admin.get("tasks")).json()
    timelines = (await admin.get("timelines")).json()
    calls = (await admin.get("calls")).json()
    report.faults = Counter(call["fault"] for call in calls if call.get("fault"))
    tasks = tasks_of(rendered, timelines)
    report.tasks = len(tasks)
    stored = {item["metadata"]["uid"]: item for item in await objects.list()}
    report.violations += find_violations(tasks, fleet, stored)
    texts = _visible_texts(replicas.logs(), stored)
    for name, process in replicas.processes.items():
        texts.append((f"the metrics of {name}", (await admin.get(process.metrics_url)).text))
    leaks = [where for where, text in texts if token in text]
    report.violations += [f"the API token appears in {where}" for where in leaks]
    report.violations += [
        f"{name} logged: {entry[:300]}"
        for name, text in replicas.logs().items()
        for entry in log_errors(text)
    ]
    log(f"  checked {len(tasks)} tasks of {len(fleet)} resources")


def acting_violations(both: list[Window]) -> list[str]:
    """Each moment two replicas acted at once."""
    return [
        f"{window.replica} acted at once for {window.seconds:.3f} s from {window.start:%H:%M:%S.%f}"
        for window in both
    ]


def find_violations(
    tasks: list[RemoteRecord], fleet: dict[str, Tracked], stored: dict[str, dict[str, Any]]
) -> list[str]:
    """The task invariants, from the simulator's tasks and the objects by uid (pure)."""
    by_owner: dict[str | None, list[RemoteRecord]] = defaultdict(list)
    for task in tasks:
        by_owner[task.owner].append(task)
    by_uid = {tracked.uid: tracked for tracked in fleet.values()}
    violations = [f"task {task.task_id} carries no start marker" for task in by_owner.pop(None, [])]
    for uid, owned in by_owner.items():
        tracked = by_uid.get(uid)
        name = tracked.name if tracked else uid
        spans = sorted(
            (task.live_from, task.live_until or FOREVER, task.task_id)
            for task in owned
            if task.live_from is not None
        )
        for (_, first_end, first), (second_start, _, second) in itertools.pairwise(spans):
            if second_start < first_end:
                violations.append(f"{name}: tasks {first} and {second} were live at once")
        if tracked is None:
            violations.append(f"tasks {[t.task_id for t in owned]} belong to no resource")
            continue
        if len(owned) > tracked.allowed_starts():
            violations.append(
                f"{name}: {len(owned)} starts, at most {tracked.allowed_starts()} allowed "
                f"(resumes {tracked.resumes}, edits {tracked.edits})"
            )
        current = ((stored.get(uid) or {}).get("status") or {}).get("taskId")
        for task in owned:
            if task.status in ENDED:
                continue
            if tracked.deleted:
                violations.append(f"{name} was deleted but task {task.task_id} is {task.status}")
            elif task.task_id != current:
                violations.append(
                    f"{name}: task {task.task_id} is {task.status} but the resource points at "
                    f"{current}"
                )
    return violations


def _visible_texts(
    logs: dict[str, str], stored: dict[str, dict[str, Any]]
) -> list[tuple[str, str]]:
    """Everything a user or a log collector sees: the operator's logs, every object."""
    texts = [(f"the log of {name}", text) for name, text in logs.items()]
    texts += [(f"object {item['metadata']['name']}", repr(item)) for item in stored.values()]
    return texts
