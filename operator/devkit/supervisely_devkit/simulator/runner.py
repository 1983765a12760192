"""Run the simulator: ``Simulator`` for async code, ``ThreadedSimulator`` for synchronous code.

``Simulator`` is an async context manager that serves on a loopback port (``port=0`` picks a
free one) and offers the same levers as the ``/_sim`` endpoints as plain methods.
``ThreadedSimulator`` runs one on its own event loop in a background thread, for the e2e suite
and the demo, which drive the operator as a subprocess and are not async themselves.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

from aiohttp import web

from supervisely_devkit.simulator.clock import DEFAULT_CLOCK, Clock
from supervisely_devkit.simulator.faults import FaultSpec
from supervisely_devkit.simulator.lifecycle import TaskStatus
from supervisely_devkit.simulator.record import CallRecord, CallRecorder
from supervisely_devkit.simulator.scenario import Scenario, WorkspaceSpec
from supervisely_devkit.simulator.server import build_app
from supervisely_devkit.simulator.state import ApiToken, SimulatorState
from supervisely_devkit.simulator.wire import JsonObject

_Result = TypeVar("_Result")

SHUTDOWN_GRACE_SECONDS = 2.0
"""How long in-flight calls may take to finish on stop (injected delays end at once)."""


class Simulator:
    """A running Supervisely API simulator (use ``async with``)."""

    def __init__(
        self,
        *,
        token: str,
        scenario: Scenario | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock = DEFAULT_CLOCK,
        record_path: Path | None = None,
    ) -> None:
        self._token = ApiToken(token)
        self._scenario = scenario or Scenario()
        self._host = host
        self._requested_port = port
        self._clock = clock
        self._recorder = CallRecorder(path=record_path)
        self._state: SimulatorState | None = None
        self._runner: web.AppRunner | None = None
        self._shutdown = asyncio.Event()
        self._port: int | None = None

    def __repr__(self) -> str:
        where = self.base_url if self._port is not None else "not started"
        return f"<Simulator {where}>"

    async def start(self) -> None:
        """Build the state and start serving."""
        self._state = SimulatorState(
            token=self._token, scenario=self._scenario, clock=self._clock, recorder=self._recorder
        )
        self._recorder.open()
        app = build_app(state=self._state, shutdown=self._shutdown)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_GRACE_SECONDS)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._requested_port)
        await site.start()
        self._port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop serving; pending injected delays end at once."""
        self._shutdown.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._recorder.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def state(self) -> SimulatorState:
        """The live state (catalogue, tasks, faults, record); for tests that need more."""
        if self._state is None:
            raise RuntimeError("the simulator has not been started")
        return self._state

    @property
    def port(self) -> int:
        """The port it listens on (the real one when started with ``port=0``)."""
        if self._port is None:
            raise RuntimeError("the simulator has not been started")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT``: the server address to give to a client or the SDK."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    def calls(
        self, method: str | None = None, *, workspace_id: int | None = None
    ) -> list[CallRecord]:
        """Recorded API calls in arrival order, optionally of one method or one workspace only
        (see ``CallRecord.workspace_id``)."""
        return self._recorder.calls(method=method, workspace_id=workspace_id)

    def clear_calls(self) -> None:
        """Forget the recorded calls."""
        self._recorder.clear()

    def inject_fault(
        self,
        method: str = "*",
        *,
        status: int | None = None,
        retry_after: int | None = None,
        delay: float | None = None,
        drop: bool = False,
        times: int | None = None,
        probability: float | None = None,
        after_effect: bool = False,
        error: str | None = None,
        message: str | None = None,
    ) -> int:
        """Arm a fault (see ``FaultSpec``) and return its id."""
        spec = FaultSpec(
            method=method,
            status=status,
            retry_after=retry_after,
            delay=delay,
            drop=drop,
            times=times,
            probability=probability,
            after_effect=after_effect,
            error=error,
            message=message,
        )
        return self.add_fault(spec)

    def add_fault(self, spec: FaultSpec) -> int:
        """Arm a fault given as a spec and return its id."""
        return self.state.faults.add(spec)

    def clear_faults(self) -> None:
        """Disarm every fault."""
        self.state.faults.clear()

    def set_agent_status(self, agent_id: int, status: Literal["running", "waiting"]) -> None:
        """Switch an agent between running and waiting (404-style ``ApiError`` if unknown)."""
        agent = self.state.catalogue.agent(agent_id)
        self.state.catalogue.agent_status[agent.id] = status

    def add_workspace(
        self, workspace_id: int, *, name: str | None = None, team_id: int = 1
    ) -> None:
        """Add a workspace now: tests that share one simulator each take one of their own."""
        spec = WorkspaceSpec(
            id=workspace_id, name=name or f"Workspace {workspace_id}", team_id=team_id
        )
        self.state.catalogue.add_workspace(spec)

    def force_task(
        self,
        task_id: int,
        status: Literal["error", "finished", "stopped"],
        *,
        message: str | None = None,
    ) -> None:
        """End a task at once with ``status``."""
        self.state.tasks.force(
            task_id, status=TaskStatus(status), now=self.state.now(), message=message
        )

    def publish_output(self, task_id: int, output: JsonObject) -> None:
        """Publish part of a task's result now, as its app's ``tasks.output.set`` would."""
        self.state.tasks.publish(task_id, output=output, now=self.state.now())

    def delete_task(self, task_id: int) -> None:
        """Remove a task as if the platform had lost it (``tasks.info`` then answers 404)."""
        self.state.tasks.delete(task_id)

    def tasks(self, *, workspace_id: int | None = None) -> list[JsonObject]:
        """Every task (of one workspace, if given) as ``tasks.info`` would show it now."""
        state = self.state
        now = state.now()
        return [
            state.tasks.render(task, now=now)
            for task in state.tasks.all()
            if workspace_id is None or task.workspace_id == workspace_id
        ]

    def task_status(self, task_id: int) -> str:
        """The status of a task now."""
        return self.state.tasks.get(task_id).status(self.state.now()).value


class ThreadedSimulator:
    """A ``Simulator`` on its own event loop in a background thread (use ``with``).

    Every lever is forwarded to the simulator's loop, so calling from another thread is safe.
    """

    def __init__(
        self,
        *,
        token: str,
        scenario: Scenario | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock = DEFAULT_CLOCK,
        record_path: Path | None = None,
    ) -> None:
        # A closure rather than stored arguments or a partial: its repr never shows the token.
        def make_simulator() -> Simulator:
            return Simulator(
                token=token,
                scenario=scenario,
                host=host,
                port=port,
                clock=clock,
                record_path=record_path,
            )

        self._make_simulator = make_simulator
        self._simulator: Simulator | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._started = concurrent.futures.Future[None]()

    def __repr__(self) -> str:
        return f"<ThreadedSimulator {self._simulator!r}>"

    def start(self, *, timeout: float = 30.0) -> None:
        """Start the thread and wait until the simulator serves."""
        self._thread = threading.Thread(target=self._run, name="supervisely-simulator", daemon=True)
        self._thread.start()
        self._started.result(timeout=timeout)

    def stop(self, *, timeout: float = 30.0) -> None:
        """Stop the simulator and join the thread; the call record stays readable."""
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already ended
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            self._simulator = self._make_simulator()
            await self._simulator.start()
        except BaseException as exc:
            self._started.set_exception(exc)
            return
        self._started.set_result(None)
        try:
            await self._stop.wait()
        finally:
            await self._simulator.stop()

    def _on_loop(self, action: Callable[[Simulator], _Result]) -> _Result:
        """Run ``action`` on the simulator's loop and wait for its result.

        After ``stop`` no loop runs any more and nothing else touches the state, so the action
        runs right here (reading the call record after the run is the common case).
        """
        if self._loop is None or self._simulator is None:
            raise RuntimeError("the simulator has not been started")
        simulator = self._simulator
        if self._thread is None:
            return action(simulator)
        done = concurrent.futures.Future[_Result]()

        def run() -> None:
            try:
                done.set_result(action(simulator))
            except BaseException as exc:
                done.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return done.result(timeout=30)

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT``."""
        return self._on_loop(lambda sim: sim.base_url)

    def calls(
        self, method: str | None = None, *, workspace_id: int | None = None
    ) -> list[CallRecord]:
        """See ``Simulator.calls``."""
        return self._on_loop(lambda sim: sim.calls(method, workspace_id=workspace_id))

    def clear_calls(self) -> None:
        """See ``Simulator.clear_calls``."""
        self._on_loop(lambda sim: sim.clear_calls())

    def inject_fault(self, method: str = "*", **fault: Any) -> int:
        """See ``Simulator.inject_fault``."""
        return self._on_loop(lambda sim: sim.inject_fault(method, **fault))

    def clear_faults(self) -> None:
        """See ``Simulator.clear_faults``."""
        self._on_loop(lambda sim: sim.clear_faults())

    def set_agent_status(self, agent_id: int, status: Literal["running", "waiting"]) -> None:
        """See ``Simulator.set_agent_status``."""
        self._on_loop(lambda sim: sim.set_agent_status(agent_id, status))

    def add_workspace(
        self, workspace_id: int, *, name: str | None = None, team_id: int = 1
    ) -> None:
        """See ``Simulator.add_workspace``."""
        self._on_loop(lambda sim: sim.add_workspace(workspace_id, name=name, team_id=team_id))

    def force_task(
        self,
        task_id: int,
        status: Literal["error", "finished", "stopped"],
        *,
        message: str | None = None,
    ) -> None:
        """See ``Simulator.force_task``."""
        self._on_loop(lambda sim: sim.force_task(task_id, status, message=message))

    def publish_output(self, task_id: int, output: JsonObject) -> None:
        """See ``Simulator.publish_output``."""
        self._on_loop(lambda sim: sim.publish_output(task_id, output))

    def delete_task(self, task_id: int) -> None:
        """See ``Simulator.delete_task``."""
        self._on_loop(lambda sim: sim.delete_task(task_id))

    def tasks(self, *, workspace_id: int | None = None) -> list[JsonObject]:
        """See ``Simulator.tasks``."""
        return self._on_loop(lambda sim: sim.tasks(workspace_id=workspace_id))

    def task_status(self, task_id: int) -> str:
        """See ``Simulator.task_status``."""
        return self._on_loop(lambda sim: sim.task_status(task_id))
