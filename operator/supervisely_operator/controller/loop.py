"""One resource's passes, one after another, for as long as the resource needs them.

The daemon keeps a resource in sync until its deletion begins; the deletion handler then keeps
its finalizer until the task is stopped. Both run this one loop: pass, sleep until the plan's
next look or a wake-up (the poller saw the task change, an edit arrived), pass again. They
differ only in where the next pass's object comes from and when they are done
(:class:`LiveBody`, :class:`ReadBack`).

Per object, on kopf's per-object memo: the object's remote (its
:class:`~supervisely_operator.remote.TaskRemote`), its wake-up event, a lock that keeps its
daemon and its deletion handler from passing at once, and whether it is paused.

Passes run only while this replica leads (:mod:`.leadership`). kopf pauses a replica's watches
and daemons when it sees a peer of a higher priority, but a pass under way, a deletion handler,
and a replica that cannot see the peering object at all would go on; so each pass runs inside
the leader's term and is cut off the moment it ends, and the loop then waits to lead again.
"""

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any, Final, Protocol

import kopf

from supervisely_operator.api.reasons import Reason
from supervisely_operator.api.resource import PAUSED_ANNOTATION, is_paused
from supervisely_operator.controller.kube import KubeApi, KubeRefused, ObjectGone, StaleObject
from supervisely_operator.controller.leadership import Leadership, NotLeading
from supervisely_operator.controller.metrics import OperatorMetrics
from supervisely_operator.controller.reconciler import Logger, PassResult, Reconciler, Snapshot
from supervisely_operator.reconcile.situation import ResourceRef
from supervisely_operator.remote import RemoteProvider, TaskRemote

STALE_RETRY_DELAY: Final = 0.5
"""Seconds before a pass is tried again after the object changed under it."""
KUBE_RETRY_DELAY: Final = 2.0
"""Seconds before a pass is tried again after the Kubernetes API refused or missed a call."""
PAUSED_DELETION_RECHECK: Final = 5.0
"""Seconds between reads of a paused resource whose deletion waits for it to be unpaused."""
IDLE_RECHECK: Final = 3600.0
"""A resource whose decision waits for nothing (a finished task) is still re-checked this often."""
NOT_LEADING_RECHECK: Final = 5.0
"""Seconds between looks at whether a deletion still waits, while another replica leads."""

Obj = Mapping[str, Any] | Snapshot


class _Paused:
    """The object says it is paused: no pass ran."""


PAUSED: Final = _Paused()


def wakeup_of(memo: kopf.Memo) -> asyncio.Event:
    """The object's wake-up event, on kopf's per-object memo (dropped with the object)."""
    wakeup: asyncio.Event | None = memo.get("wakeup")
    if wakeup is None:
        wakeup = memo["wakeup"] = asyncio.Event()
    return wakeup


def lock_of(memo: kopf.Memo) -> asyncio.Lock:
    """Serialises the object's passes (its daemon and its deletion handler), per object."""
    lock: asyncio.Lock | None = memo.get("lock")
    if lock is None:
        lock = memo["lock"] = asyncio.Lock()
    return lock


def remote_of(memo: kopf.Memo, ref: ResourceRef) -> TaskRemote:
    """The object's remote, made on first use; it lives as long as the object's memo."""
    remote: TaskRemote | None = memo.get("remote")
    if remote is None:
        remotes: RemoteProvider = memo.remotes
        remote = memo["remote"] = remotes.remote_for(ref, wake=wakeup_of(memo).set)
    return remote


async def daemon_sleep(stopped: kopf.DaemonStopped, wakeup: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less if woken or stopped.

    The time limit is ours, not ``stopped.wait(seconds)``'s: kopf runs that wait in a helper
    task that ends in TimeoutError, and at exit kopf re-raises the outcome of every task still
    alive when it stopped its own; a daemon asleep then (kopf may respawn one for a late watch
    event) made the whole operator exit with that TimeoutError.
    """
    waiters = {asyncio.ensure_future(stopped.wait()), asyncio.ensure_future(wakeup.wait())}
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)


def next_pass_in(result: PassResult | None) -> float:
    """Seconds until the next pass. Right after an action, at once: that pass registers what
    the action changed with the poller, which then wakes the resource when the task moves."""
    if result is None:
        return STALE_RETRY_DELAY
    plan = result.plan
    if plan.action is not None:
        return 0.0
    return IDLE_RECHECK if plan.requeue_after is None else plan.requeue_after


class ObjectSource(Protocol):
    """Where a loop's passes take their object from, and how it waits between them."""

    pause_recheck: float
    """How long a paused object is left alone before it is looked at again."""

    @property
    def running(self) -> bool:
        """Whether the loop goes on."""
        ...

    async def current(self, last: PassResult | None) -> Obj:
        """The object the next pass decides on; raises ``ObjectGone`` when it is gone."""
        ...

    def finished(self, result: PassResult) -> bool:
        """Whether this pass was the last one needed."""
        ...

    async def still_there(self) -> bool:
        """Whether the object still needs this loop (asked while another replica leads)."""
        ...

    async def sleep(self, wakeup: asyncio.Event, seconds: float) -> None:
        """Wait ``seconds``, or less if woken."""
        ...


class LiveBody:
    """The daemon's object: kopf's live body, which kopf updates in place as events arrive;
    but the object as our own writes left it while the body is one of the versions they wrote
    over (under load the watch delivers our writes seconds late)."""

    pause_recheck = IDLE_RECHECK  # unpausing is an edit, and an edit wakes the daemon

    def __init__(self, body: Mapping[str, Any], stopped: kopf.DaemonStopped) -> None:
        self._body = body
        self._stopped = stopped

    @property
    def running(self) -> bool:
        return not self._stopped

    async def current(self, last: PassResult | None) -> Obj:
        return self._body if last is None else last.freshest(self._body)

    def finished(self, result: PassResult) -> bool:
        return False  # kopf stops the daemon when the deletion begins

    async def still_there(self) -> bool:
        return True  # kopf stops the daemon when the object goes, or when it pauses

    async def sleep(self, wakeup: asyncio.Event, seconds: float) -> None:
        await daemon_sleep(self._stopped, wakeup, seconds)


class ReadBack:
    """The deletion handler's object. kopf hands one object's events over one at a time, so no
    event reaches a handler while it runs: it goes on from the object its own writes left, and
    reads the object again when those tell nothing new (after a conflict, an outage, a pause,
    a spec it cannot act on). The wait between passes is short for the same reason."""

    pause_recheck = PAUSED_DELETION_RECHECK

    def __init__(
        self, body: Mapping[str, Any], *, kube: KubeApi, ref: ResourceRef, recheck: float
    ) -> None:
        self._first: Obj | None = body
        self._kube = kube
        self._ref = ref
        self._recheck = recheck

    @property
    def running(self) -> bool:
        return True

    async def current(self, last: PassResult | None) -> Obj:
        first, self._first = self._first, None
        if first is not None:
            return first
        if last is not None and last.snapshot.spec is not None:
            return last.snapshot
        obj = await self._kube.get(namespace=self._ref.namespace, name=self._ref.name)
        if obj["metadata"].get("uid") != self._ref.uid:
            raise ObjectGone("another object of the same name")
        return obj

    def finished(self, result: PassResult) -> bool:
        return result.plan.release

    async def still_there(self) -> bool:
        """The leader may finish the deletion meanwhile; kopf, paused, would not say so."""
        try:
            obj = await self._kube.get(namespace=self._ref.namespace, name=self._ref.name)
        except ObjectGone:
            return False
        except KubeRefused:
            return True
        return bool(obj["metadata"].get("uid") == self._ref.uid)

    async def sleep(self, wakeup: asyncio.Event, seconds: float) -> None:
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), min(seconds, self._recheck))


class ResourceLoop:
    """Runs one object's passes (see the module's docstring)."""

    def __init__(
        self, memo: kopf.Memo, ref: ResourceRef, *, logger: Logger, deleting: bool
    ) -> None:
        self._memo = memo
        self._ref = ref
        self._logger = logger
        self._deleting = deleting
        self._remote = remote_of(memo, ref)
        self._reconciler: Reconciler = memo.reconciler
        self._metrics: OperatorMetrics = memo.metrics
        self._leadership: Leadership = memo.leadership
        memo.wakeups.register(ref.uid, wakeup_of(memo))

    async def run(self, source: ObjectSource) -> None:
        """Pass until ``source`` is done with the object, or the object is gone."""
        loop = asyncio.get_running_loop()
        wakeup = wakeup_of(self._memo)
        due = loop.time()
        last: PassResult | None = None
        leadership = self._leadership
        while source.running:
            wakeup.clear()
            if not leadership.leading:
                last = None  # another replica may have written meanwhile: start from the object
                await source.sleep(leadership.acting, NOT_LEADING_RECHECK)
                if not leadership.leading and not await source.still_there():
                    return
                due = loop.time()
                continue
            try:
                async with leadership.term():
                    result = await self._next_pass(source, last, due=due)
            except NotLeading:
                continue
            except ObjectGone:
                return
            except KubeRefused:
                last = None  # what our writes left is unknown: read the object afresh
                await source.sleep(wakeup, KUBE_RETRY_DELAY)
                continue
            if result is PAUSED:
                last = None
                await source.sleep(wakeup, source.pause_recheck)
                due = loop.time()
                continue
            assert not isinstance(result, _Paused)
            last = result
            if last is not None and source.finished(last):
                return
            delay = next_pass_in(last)
            due = loop.time() + delay
            await source.sleep(wakeup, delay)
            due = min(due, loop.time())  # woken early by a change: the pass is due now

    async def _next_pass(
        self, source: ObjectSource, last: PassResult | None, *, due: float
    ) -> PassResult | _Paused | None:
        """One pass (and the one that records what its action did), serialised per object and
        bounded overall; the object is read once this pass's turn has come. None: the object
        changed meanwhile."""
        memo, metrics = self._memo, self._metrics
        async with lock_of(memo), memo.passes:
            obj = await source.current(last)
            if _paused(obj):
                self._pause()
                return PAUSED
            self._unpause()
            metrics.poll_lag.observe(max(0.0, asyncio.get_running_loop().time() - due))
            try:
                with metrics.reconcile_seconds.time():
                    result = await self._passes(obj)
                # Decided on our own last snapshot: the body may lag behind its writes still.
                return (
                    result if last is None or obj is not last.snapshot else result.following(last)
                )
            except StaleObject:
                metrics.reconcile_errors.labels(kind="conflict").inc()
                self._logger.debug("The object changed during the pass; deciding again")
                return None
            except KubeRefused:
                # Logged once per outage by KubeApi; the loop waits and tries again.
                metrics.reconcile_errors.labels(kind="kube_unavailable").inc()
                raise
            except (ObjectGone, NotLeading):
                raise
            except Exception:
                metrics.reconcile_errors.labels(kind="unexpected").inc()
                raise

    async def _passes(self, obj: Obj) -> PassResult:
        """A pass, then at once the pass that records what its action did (if it did)."""
        reconciler, remote = self._reconciler, self._remote
        result = await reconciler.run_pass(
            obj, remote=remote, deleting=self._deleting, logger=self._logger
        )
        while result.taken is not None:
            recorded = await reconciler.run_pass(
                result.snapshot,
                remote=remote,
                deleting=self._deleting,
                logger=self._logger,
                taken=result.taken,
            )
            result = recorded.following(result)
        return result

    def _pause(self) -> None:
        """Leave a paused resource alone: its task is no longer watched and nothing is written;
        the first pass after unpausing starts from the status as it was."""
        if not self._memo.get("paused"):
            self._memo["paused"] = True
            self._remote.pause()
            self._reconciler.forget(self._ref)
            self._logger.info(
                "%s (%s): the operator leaves this resource alone", Reason.PAUSED, PAUSED_ANNOTATION
            )

    def _unpause(self) -> None:
        if self._memo.get("paused"):
            self._memo["paused"] = False
            self._logger.info("Unpaused: reconciling again")


def _paused(obj: Obj) -> bool:
    if isinstance(obj, Snapshot):
        return obj.paused
    return is_paused(obj["metadata"].get("annotations"))
