"""kopf's handlers for SuperviselyTask: one daemon per object, a deletion handler, a wake-up.

Why a daemon and not a timer: the decision says when it wants to look again (a backoff, a
deadline, a grace period), and a daemon can sleep exactly that long. Everything else wakes it:
the workspace's shared poller when its task changes, and an ``on.event`` handler on spec edits
and deletions. A resource whose task runs quietly costs nothing between changes. The passes
themselves run in :mod:`.loop`; this module only says when.

kopf's own bookkeeping is kept small: no diff-base annotation (no handler reads diffs), progress
under our own prefix (status holds only what users read), and the deletion handler waits for
the task to stop inside one invocation, so kopf writes nothing per retry.
"""

import logging
from collections.abc import Mapping
from typing import Any

import kopf

from supervisely_operator.api.resource import (
    REFRESH_ANNOTATION,
    RESTART_ANNOTATION,
    is_paused,
)
from supervisely_operator.controller.directory import (
    Directory,
    Entry,
    Key,
    controller_cron,
    index_entries,
)
from supervisely_operator.controller.loop import (
    LiveBody,
    ReadBack,
    ResourceLoop,
    remote_of,
    wakeup_of,
)
from supervisely_operator.controller.reconciler import Logger
from supervisely_operator.controller.registry import RESOURCE, registry
from supervisely_operator.controller.wakeups import Wakeups
from supervisely_operator.reconcile.situation import ResourceRef
from supervisely_operator.remote import RemoteProvider


@kopf.index(*RESOURCE, registry=registry)
async def directory(body: kopf.Body, **_: Any) -> dict[Key, Entry]:
    """Every SuperviselyTask, filed for ownership, paramsFrom and cron runs (``Directory``)."""
    return index_entries(body)


@kopf.daemon(*RESOURCE, registry=registry, cancellation_timeout=60, backoff=10)
async def keep_in_sync(
    body: kopf.Body,
    memo: kopf.Memo,
    stopped: kopf.DaemonStopped,
    logger: Logger,
    **_: Any,
) -> None:
    """Run passes for one object for as long as it exists and is not being deleted."""
    await ResourceLoop(memo, _ref(body), logger=logger, deleting=False).run(LiveBody(body, stopped))


@kopf.on.delete(*RESOURCE, registry=registry, backoff=2)
async def stop_before_deletion(body: kopf.Body, memo: kopf.Memo, logger: Logger, **_: Any) -> None:
    """Keep the finalizer until the task is stopped (or orphaned, as the spec says).

    The wait happens inside this one invocation, woken by the poller when the task changes:
    kopf would write its progress annotations on every retry of a handler that raised. A paused
    resource keeps its finalizer, and its task, until it is unpaused (as Crossplane's pause).
    """
    ref = _ref(body)
    source = ReadBack(body, kube=memo.kube, ref=ref, recheck=memo.transition_recheck)
    await ResourceLoop(memo, ref, logger=logger, deleting=True).run(source)
    _forget(memo, ref)


@kopf.on.event(*RESOURCE, registry=registry)
async def wake_on_change(body: kopf.Body, memo: kopf.Memo, type: str | None, **_: Any) -> None:
    """A spec edit or a deletion wakes the object's daemon; our own status writes do not.

    Async on purpose: kopf runs a sync handler in a thread for every watch event, and an
    ``asyncio.Event`` must be set from its own loop.
    """
    ref = _ref(body)
    remotes: RemoteProvider = memo.remotes
    remotes.resource_changed(ref.uid)  # a resource waiting for this one to let go looks again
    wake_dependents(memo, body)
    if type == "DELETED":  # gone, whether or not our finalizer saw it go
        _forget(memo, ref)
        return
    if wants_a_pass(body, paused=bool(memo.get("paused"))):
        wakeup_of(memo).set()


def wake_dependents(memo: kopf.Memo, body: Mapping[str, Any]) -> None:
    """The tasks that take params from this one, and the cron task that made it, look again:
    a change here may be what they wait for (a source that succeeded, a run that ended)."""
    directory: Directory = memo.directory
    wakeups: Wakeups = memo.wakeups
    metadata = body["metadata"]
    for consumer in directory.consumers(metadata["namespace"], metadata["name"]):
        wakeups.wake(consumer.uid)
    cron_uid = controller_cron(metadata)
    if cron_uid is not None:
        wakeups.wake(cron_uid)


def wants_a_pass(body: Mapping[str, Any], *, paused: bool) -> bool:
    """A spec edit, a deletion, a restart or refresh request not answered yet, or a change of
    the pause switch; not our own status writes, which would wake every object on each."""
    metadata = body.get("metadata") or {}
    status = body.get("status") or {}
    annotations = metadata.get("annotations") or {}
    if is_paused(annotations) != paused:
        return True
    asked = (
        (annotations.get(RESTART_ANNOTATION), status.get("restartRequestHandled")),
        (annotations.get(REFRESH_ANNOTATION), status.get("refreshHandled")),
    )
    return (
        status.get("observedGeneration") != metadata.get("generation")
        or bool(metadata.get("deletionTimestamp"))
        or any(value is not None and value != handled for value, handled in asked)
    )


def _forget(memo: kopf.Memo, ref: ResourceRef) -> None:
    """The object is gone: its remote lets go of everything, its phase is counted no more."""
    remote_of(memo, ref).release()
    memo.reconciler.forget(ref)
    memo.wakeups.forget(ref.uid)


def _ref(body: Mapping[str, Any]) -> ResourceRef:
    metadata = body["metadata"]
    return ResourceRef(namespace=metadata["namespace"], name=metadata["name"], uid=metadata["uid"])


class QuietHandlerSuccess(logging.Filter):
    """Drops kopf's "Handler 'wake_on_change' succeeded." line, logged on every watch event."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        return "'wake_on_change'" not in message or "succeeded" not in message
