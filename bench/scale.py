"""How the operator holds up at 100 to 10,000 SuperviselyTasks, against a floor and two baselines.

For each N: a fresh local control plane (its own process), the floor (N creates + N status
patches straight to the API server), the operator (a process, default settings, its own
simulator process) measured from outside, then (a) the SDK's wait loop and (b) a naive kopf
operator on the same N. Prints a table with the issue's goals beside each figure and writes
``bench/results/scale-<UTC>.json``, ``latest.json``, ``latest.md`` and ``scale.png``.

Usage: ``.venv/bin/python bench/scale.py [--sizes 100,1000,5000,10000] [--skip-baselines]
[--steady-seconds 60] [--out bench/results]``. ``--operator-env NAME=VALUE`` (repeatable) adds
to the operator's environment, e.g. to try another poll interval.
"""

import argparse
import asyncio
import contextlib
import os
import platform
import secrets
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from supervisely_devkit.devcluster.access import ClusterAccess
from supervisely_operator.api import resource

from scalebench.baselines import measure_naive_operator, measure_sdk_wait_loop
from scalebench.measure import OperatorRun, measure_floor, measure_operator, warm_up
from scalebench.processes import DevClusterProcess
from scalebench.report import Results, plot, render_markdown, render_text, write_json

REPO = Path(__file__).resolve().parents[1]
CRD_FILE = REPO / "crds" / "superviselytask.yaml"
DEFAULT_SIZES = "100,1000,5000,10000"


class Progress:
    """Progress lines: wall time since the start, and the size being run."""

    def __init__(self) -> None:
        self.began = time.monotonic()
        self.size = ""

    def __call__(self, message: str) -> None:
        print(f"[{time.monotonic() - self.began:7.1f} s] {self.size}{message}", flush=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help="comma-separated object counts")
    parser.add_argument("--skip-baselines", action="store_true", help="floor and operator only")
    parser.add_argument("--steady-seconds", type=float, default=60.0)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    parser.add_argument(
        "--keep-logs",
        action="store_true",
        help="keep the logs (operator, simulators, control plane) instead of removing them",
    )
    parser.add_argument(
        "--operator-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the operator (repeatable)",
    )
    args = parser.parse_args(argv)
    args.sizes = [int(size.replace("_", "")) for size in args.sizes.split(",") if size.strip()]
    if any(size < 10 for size in args.sizes):
        parser.error("every size must be at least 10 (the lifecycle mix is in tenths)")
    env = {}
    for item in args.operator_env:
        name, found, value = item.partition("=")
        if not found:
            parser.error(f"--operator-env wants NAME=VALUE, got {item!r}")
        env[name] = value
    args.operator_env = env
    return args


async def run_size(
    n: int, *, args: argparse.Namespace, token: str, workdir: Path, log: Progress
) -> Results:
    """Everything for one N, on a fresh cluster; a failing part is reported, not fatal."""
    results: Results = {"n": n, "errors": []}
    with DevClusterProcess(workdir=workdir) as cluster:
        access = ClusterAccess(kubeconfig=cluster.kubeconfig, kubectl_cache_dir=workdir / "kube")
        access.kubectl("apply", "-f", str(CRD_FILE))
        access.wait_established(resource.CRD_NAME)
        await warm_up(cluster.kubeconfig)
        log(f"control plane up ({cluster.kubeconfig})")

        async def attempt(name: str, work: Awaitable[Any]) -> None:
            log(f"{name}:")
            try:
                found = await work
            except Exception as exc:  # one broken part must not lose the other figures
                log(f"  {name} failed: {exc!r}")
                traceback.print_exc()
                results["errors"].append(f"{name}: {exc!r}")
                return
            results[name] = found if isinstance(found, dict) else found.as_json()

        await attempt("floor", measure_floor(cluster.kubeconfig, namespace="floor", n=n, log=log))
        run = OperatorRun(
            n=n,
            kubeconfig=cluster.kubeconfig,
            namespace="scale",
            workdir=workdir,
            token=token,
            steady_seconds=args.steady_seconds,
            operator_env=args.operator_env,
            neighbours=cluster.pids(),
        )
        await attempt("operator", measure_operator(run, log=log))
        if not args.skip_baselines:
            await attempt(
                "sdk_wait_loop", measure_sdk_wait_loop(n=n, token=token, workdir=workdir, log=log)
            )
            await attempt(
                "naive_operator",
                measure_naive_operator(
                    n=n,
                    kubeconfig=cluster.kubeconfig,
                    namespace="naive",
                    token=token,
                    workdir=workdir,
                    steady_seconds=args.steady_seconds,
                    log=log,
                ),
            )
    return results


async def main_async(args: argparse.Namespace) -> int:
    log = Progress()
    token = f"bench-{secrets.token_hex(12)}"  # made up per run; never printed
    started = datetime.now(UTC)
    all_results: list[Results] = []
    args.out.mkdir(parents=True, exist_ok=True)
    fate = "kept" if args.keep_logs else "removed at the end"
    with contextlib.ExitStack() as cleanup:
        scratch = Path(tempfile.mkdtemp(prefix="scale-bench-"))
        if not args.keep_logs:
            cleanup.callback(shutil.rmtree, scratch, ignore_errors=True)
        for n in args.sizes:
            log.size = f"N={n:,} "
            workdir = scratch / f"n{n}"
            workdir.mkdir()
            log(f"starting (logs in {workdir}, {fate})")
            all_results.append(await run_size(n, args=args, token=token, workdir=workdir, log=log))
            log("done")
            log.size = ""
    finished = datetime.now(UTC)
    duration = (finished - started).total_seconds()
    context = (
        f"Measured {started:%Y-%m-%d %H:%M} UTC on {os.cpu_count()} CPUs "
        f"({platform.machine()}, Python {platform.python_version()}) with "
        f"`.venv/bin/python bench/scale.py --sizes {','.join(map(str, args.sizes))}"
        f"{' --skip-baselines' if args.skip_baselines else ''}"
        f" --steady-seconds {args.steady_seconds:g}`, in {duration / 60:.1f} min."
    )
    document = {
        "started": started.isoformat(),
        "finished": finished.isoformat(),
        "duration_s": duration,
        "host": {"cpus": os.cpu_count(), "machine": platform.machine(), "python": sys.version},
        "args": {
            "sizes": args.sizes,
            "skip_baselines": args.skip_baselines,
            "steady_seconds": args.steady_seconds,
            "operator_env": args.operator_env,
        },
        "results": all_results,
    }
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    write_json(args.out / f"scale-{stamp}.json", document)
    write_json(args.out / "latest.json", document)
    (args.out / "latest.md").write_text(render_markdown(all_results, context=context))
    plot(all_results, args.out / "scale.png")
    print()
    print(render_text(all_results))
    print()
    print(context)
    print(f"Wrote {args.out}/scale-{stamp}.json, latest.json, latest.md and scale.png")
    return 1 if any(run["errors"] for run in all_results) else 0


def main() -> None:
    sys.exit(asyncio.run(main_async(parse_args())))


if __name__ == "__main__":
    main()
