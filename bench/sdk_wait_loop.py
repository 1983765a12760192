"""Baseline (a) of the scale benchmark: N tasks, each watched by the SDK's wait loop.

The SDK's ``TaskApi.wait`` asks ``tasks.info`` once a second until the task ends. This program
starts N tasks directly with the project's client (32 in flight), then runs that loop for every
task at once for a bounded window, and prints one JSON line: calls made, calls per task per
minute, and this process's own CPU and peak RSS over the window. The SDK has no client-side
rate limit, so neither does the client here. ``bench/scale.py`` runs it as
``python bench/sdk_wait_loop.py --count N --window 30`` with ``SERVER_ADDRESS`` and
``API_TOKEN`` in the environment.
"""

import argparse
import asyncio
import json
import os
import random
import resource
import time

from supervisely_operator.supervisely import (
    TERMINAL_STATUSES,
    ClientSettings,
    ModuleId,
    StartTaskRequest,
    SuperviselyClient,
    SuperviselyError,
    TaskId,
    WorkspaceId,
)

from scalebench.workload import plan

WAIT_PERIOD = 1.0
"""``TaskApi.wait``'s default ``wait_period``."""
IN_FLIGHT = 32
CONNECTIONS = 64
NO_LIMITS = {
    "max_concurrent_requests": CONNECTIONS,
    "max_connections": CONNECTIONS,
    "max_keepalive_connections": CONNECTIONS,
    "requests_per_second": 1_000_000.0,
    "request_burst": 1_000_000,
}
"""The SDK limits nothing; of these, the client takes those its version knows."""


def unlimited() -> ClientSettings:
    known = ClientSettings.model_fields
    return ClientSettings(**{name: value for name, value in NO_LIMITS.items() if name in known})


async def start_all(client: SuperviselyClient, count: int) -> list[TaskId]:
    planned = iter(list(plan(count, prefix="sdk")))
    started: list[TaskId] = []

    async def worker() -> None:
        for item in planned:
            request = StartTaskRequest(
                module_id=ModuleId(item.spec["moduleId"]),
                workspace_id=WorkspaceId(item.spec["workspaceId"]),
                task_name=item.name,
            )
            started.append((await client.start_task(request)).task_id)

    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    return started


async def wait_loop(
    client: SuperviselyClient, task_id: TaskId, deadline: float, counts: dict[str, int]
) -> None:
    """``TaskApi.wait``: one ``tasks.info`` a second until the task ends (or the window does)."""
    await asyncio.sleep(random.uniform(0, WAIT_PERIOD))  # loops start as their tasks would
    while time.monotonic() < deadline:
        try:
            info = await client.get_task(task_id)
        except SuperviselyError:
            counts["errors"] += 1
        else:
            counts["calls"] += 1
            if info.status in TERMINAL_STATUSES:
                return
        await asyncio.sleep(WAIT_PERIOD)


async def run(count: int, window: float) -> dict[str, float | int]:
    async with SuperviselyClient(
        os.environ["SERVER_ADDRESS"], os.environ["API_TOKEN"], unlimited()
    ) as client:
        began = time.monotonic()
        task_ids = await start_all(client, count)
        start_s = time.monotonic() - began
        counts = {"calls": 0, "errors": 0}
        cpu_before, began = time.process_time(), time.monotonic()
        deadline = began + window
        await asyncio.gather(*(wait_loop(client, t, deadline, counts) for t in task_ids))
        elapsed = time.monotonic() - began
        cpu = time.process_time() - cpu_before
    return {
        "n": count,
        "start_s": start_s,
        "window_s": elapsed,
        "calls": counts["calls"],
        "errors": counts["errors"],
        "calls_per_task_min": counts["calls"] / count / (elapsed / 60.0),
        "cpu_window_s": cpu,
        "cpu_pct": 100.0 * cpu / elapsed,
        # ru_maxrss is in KiB on Linux.
        "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--window", type=float, default=30.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.count, args.window))), flush=True)


if __name__ == "__main__":
    main()
