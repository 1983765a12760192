"""A cron task's pass against kmock, on a fake clock: the runs it makes and deletes, its status.

No kopf runs here: the pass is called with the time it should believe, and the runs it sees
come from the same index the operator keeps, filled from what kmock stores.
"""

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from supervisely_operator.api import resource
from supervisely_operator.controller.cron import CronReconciler
from supervisely_operator.controller.directory import Directory, Entry, Key, index_entries
from supervisely_operator.controller.kube import KubeApi
from supervisely_operator.controller.leadership import NotLeading
from supervisely_operator.controller.metrics import OperatorMetrics
from supervisely_operator.reconcile.situation import Event

from controller_harness import TASKS, ApiServerEmulator, Cluster

NAMESPACE = "vision"
LOGGER = logging.getLogger("test")
CRONS_PATH = (
    f"/apis/{resource.GROUP}/{resource.VERSION}/namespaces/{NAMESPACE}/{resource.CRON_PLURAL}"
)


class Index(Mapping[Key, Iterable[Entry]]):
    """The operator's index of SuperviselyTasks, filled from what kmock stores now."""

    def __init__(self, api: ApiServerEmulator) -> None:
        self._api = api

    def _entries(self) -> dict[Key, list[Entry]]:
        entries: dict[Key, list[Entry]] = {}
        for (res, _, _), stored in self._api.objects.items():
            if res == TASKS and not stored.deleted:
                for key, entry in index_entries(stored.raw).items():
                    entries.setdefault(key, []).append(entry)
        return entries

    def __getitem__(self, key: Key) -> Iterable[Entry]:
        return self._entries()[key]

    def __iter__(self) -> Any:
        return iter(self._entries())

    def __len__(self) -> int:
        return len(self._entries())


@pytest.fixture
def events() -> list[Event]:
    return []


async def cron_task(cluster: Cluster, **spec: Any) -> dict[str, Any]:
    return await cluster.create(
        CRONS_PATH,
        {
            "apiVersion": resource.API_VERSION,
            "kind": resource.CRON_KIND,
            "metadata": {"name": "nightly", "namespace": NAMESPACE},
            "spec": {
                "schedule": "*/5 * * * *",
                "taskTemplate": {
                    "metadata": {"labels": {"team": "vision"}},
                    "spec": {"workspaceId": 1, "moduleId": 101},
                },
                **spec,
            },
        },
    )


def reconciler_at(
    kube: KubeApi,
    api: ApiServerEmulator,
    now: datetime,
    events: list[Event],
    metrics: OperatorMetrics | None = None,
    fence: Callable[[], None] = lambda: None,
) -> CronReconciler:
    return CronReconciler(
        kube=kube,
        directory=Directory(Index(api)),
        post_event=lambda obj, event: events.append(event),
        metrics=metrics or OperatorMetrics(),
        fence=fence,
        now=lambda: now,
    )


def cron_object(api: ApiServerEmulator) -> dict[str, Any]:
    return next(
        stored.raw
        for (res, _, name), stored in api.objects.items()
        if res.plural == resource.CRON_PLURAL and name == "nightly"
    )


def runs(api: ApiServerEmulator) -> list[dict[str, Any]]:
    return [
        stored.raw
        for (res, _, _), stored in api.objects.items()
        if res == TASKS and not stored.deleted
    ]


def created_at(obj: Mapping[str, Any]) -> datetime:
    return datetime.fromisoformat(obj["metadata"]["creationTimestamp"])


async def test_a_due_tick_makes_its_run_from_the_template_once_even_when_asked_twice(
    cluster: Cluster, kube_api: ApiServerEmulator, kube: KubeApi, events: list[Event]
) -> None:
    made = await cron_task(cluster)
    tick = created_at(made).replace(second=0) + timedelta(minutes=5 - created_at(made).minute % 5)
    metrics = OperatorMetrics()
    reconciler = reconciler_at(kube, kube_api, tick + timedelta(seconds=3), events, metrics)

    plan = await reconciler.run_pass(cron_object(kube_api), logger=LOGGER)

    [run] = runs(kube_api)
    minutes = int(tick.timestamp()) // 60
    assert run["metadata"]["name"] == f"nightly-{minutes}" == (plan.make and plan.make.name)
    assert run["metadata"]["labels"] == {"team": "vision", resource.CRON_LABEL: "nightly"}
    assert run["metadata"]["annotations"] == {
        resource.SCHEDULED_AT_ANNOTATION: tick.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    }
    [owner] = run["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["controller"]) == (
        resource.CRON_KIND,
        "nightly",
        True,
    )
    assert owner["uid"] == made["metadata"]["uid"]
    assert run["spec"]["moduleId"] == 101
    status = cron_object(kube_api)["status"]
    assert status["lastScheduleTime"].startswith(tick.strftime("%Y-%m-%dT%H:%M"))
    assert [event.reason for event in events] == ["Scheduled"]
    runs_made = "supervisely_operator_cron_runs_total"
    assert metrics.registry.get_sample_value(runs_made, {"reason": "Scheduled"}) == 1

    # As after a crash between the create and the status write: the run exists, the old
    # status does not say so; the pass finds the run and makes none.
    stale = {**cron_object(kube_api), "status": {}}
    again = await reconciler.run_pass(stale, logger=LOGGER)
    assert again.make is None
    assert len(runs(kube_api)) == 1


async def test_a_replica_that_does_not_lead_makes_no_run_and_writes_nothing(
    cluster: Cluster, kube_api: ApiServerEmulator, kube: KubeApi, events: list[Event]
) -> None:
    made = await cron_task(cluster)
    tick = created_at(made).replace(second=0) + timedelta(minutes=5 - created_at(made).minute % 5)

    def not_leading() -> None:
        raise NotLeading("another replica holds the claim")

    reconciler = reconciler_at(
        kube, kube_api, tick + timedelta(seconds=3), events, fence=not_leading
    )
    with pytest.raises(NotLeading):
        await reconciler.run_pass(cron_object(kube_api), logger=LOGGER)
    assert runs(kube_api) == []
    assert "status" not in cron_object(kube_api)
    assert events == []


async def test_replace_deletes_the_live_run_and_makes_the_new_one_once_it_is_gone(
    cluster: Cluster, kube_api: ApiServerEmulator, kube: KubeApi, events: list[Event]
) -> None:
    made = await cron_task(cluster, concurrencyPolicy="Replace")
    first_tick = created_at(made).replace(second=0) + timedelta(
        minutes=5 - created_at(made).minute % 5
    )
    await reconciler_at(kube, kube_api, first_tick + timedelta(seconds=1), events).run_pass(
        cron_object(kube_api), logger=LOGGER
    )
    [first] = runs(kube_api)
    second_tick = first_tick + timedelta(minutes=5)
    later = reconciler_at(kube, kube_api, second_tick + timedelta(seconds=1), events)

    replacing = await later.run_pass(cron_object(kube_api), logger=LOGGER)

    assert replacing.make is None
    assert [run.name for run in replacing.delete] == [first["metadata"]["name"]]
    assert cluster.requests(
        "DELETE",
        f"{CRONS_PATH.replace(resource.CRON_PLURAL, resource.PLURAL)}/{first['metadata']['name']}",
    )
    assert runs(kube_api) == [], "no finalizer here: the run is gone at once"

    replaced = await later.run_pass(cron_object(kube_api), logger=LOGGER)
    assert replaced.make is not None
    assert replaced.make.scheduled_at == second_tick
    assert [run["metadata"]["name"] for run in runs(kube_api)] == [replaced.make.name]
