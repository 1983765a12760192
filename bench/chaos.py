"""The chaos run's long form: 150 resources, 50 SIGKILLs, every fault at once, several seeds.

Each run starts a fresh local control plane, a simulator with the fault mix and the operator,
then creates, suspends, resumes, edits and deletes resources at random while the operator is
killed and restarted; it then lets everything settle and checks the invariants (see
``chaosbench/run.py``). Prints one line per run and every violation; exits 1 if any.

Usage: ``.venv/bin/python bench/chaos.py [--runs 5] [--resources 150] [--kills 50]
[--churn-seconds 600] [--seed 1]``. The short form runs in the test suite
(``tests/e2e/test_chaos.py``).
"""

import argparse
import asyncio
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

from supervisely_devkit.devcluster.access import ClusterAccess

from chaosbench.run import ChaosPlan, run_chaos
from scalebench.measure import warm_up
from scalebench.processes import DevClusterProcess

REPO = Path(__file__).resolve().parents[1]
CRD_FILE = REPO / "crds" / "superviselytask.yaml"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--resources", type=int, default=150)
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--churn-seconds", type=float, default=600.0)
    parser.add_argument("--settle-seconds", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=1, help="the first run's seed")
    parser.add_argument("--keep-logs", action="store_true")
    return parser.parse_args()


async def main_async(args: argparse.Namespace) -> int:
    began = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - began:7.1f} s] {message}", flush=True)

    scratch = Path(tempfile.mkdtemp(prefix="chaos-bench-"))
    failed = 0
    try:
        for run in range(args.runs):
            plan = ChaosPlan(
                resources=args.resources,
                kills=args.kills,
                churn_seconds=args.churn_seconds,
                settle_seconds=args.settle_seconds,
                seed=args.seed + run,
            )
            workdir = scratch / f"run{run}"
            log(f"run {run + 1}/{args.runs} (seed {plan.seed}, logs in {workdir})")
            with DevClusterProcess(workdir=workdir) as cluster:
                access = ClusterAccess(
                    kubeconfig=cluster.kubeconfig, kubectl_cache_dir=workdir / "kube"
                )
                access.kubectl("apply", "-f", str(CRD_FILE))
                access.wait_established("superviselytasks.supervisely.com")
                await warm_up(cluster.kubeconfig)
                report = await run_chaos(
                    plan,
                    kubeconfig=cluster.kubeconfig,
                    namespace="chaos",
                    workdir=workdir,
                    token=f"chaos-{secrets.token_hex(12)}",
                    log=log,
                )
            log(f"run {run + 1}: {report.summary()}")
            for violation in report.violations:
                log(f"  VIOLATION: {violation}")
            failed += bool(report.violations) or report.settled_s is None
    finally:
        if args.keep_logs:
            log(f"logs kept in {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    log(f"{args.runs - failed} of {args.runs} runs held every invariant")
    return 1 if failed else 0


def main() -> None:
    sys.exit(asyncio.run(main_async(parse_args())))


if __name__ == "__main__":
    main()
