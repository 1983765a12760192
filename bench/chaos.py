"""The chaos run's long form: 150 resources, 50 SIGKILLs, 2 replicas, 4 API-server restarts,
every fault at once, several seeds.

Each run starts a fresh local control plane, a simulator with the fault mix and two peered
replicas of the operator, then creates, suspends, resumes, edits and deletes resources at
random while the replicas are killed (mostly the acting one) and restarted and the API server
is stopped for 3 s and started again; it then lets everything settle and checks the invariants
(see ``chaosbench/run.py``), among them that no two replicas ever acted at once. Prints one line
per run, every violation and every moment two replicas acted at once; exits 1 if any.

Usage: ``.venv/bin/python bench/chaos.py [--runs 5] [--resources 150] [--kills 50]
[--replicas 2] [--apiserver-restarts 4] [--churn-seconds 600] [--seed 1]``; ``--replicas 1
--apiserver-restarts 0`` is the single-operator run. The short form runs in the test suite
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
from supervisely_devkit.devcluster.cluster import DevCluster

from chaosbench.run import ChaosPlan, run_chaos
from scalebench.measure import warm_up

REPO = Path(__file__).resolve().parents[1]
CRD_FILE = REPO / "crds" / "superviselytask.yaml"
PEERING_CRDS = REPO / "charts" / "supervisely-operator" / "crds" / "kopfpeerings.yaml"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--resources", type=int, default=150)
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--apiserver-restarts", type=int, default=4)
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
    both: list[float] = []
    failovers: list[float] = []
    clear: list[float] = []
    try:
        for run in range(args.runs):
            plan = ChaosPlan(
                resources=args.resources,
                kills=args.kills,
                churn_seconds=args.churn_seconds,
                settle_seconds=args.settle_seconds,
                seed=args.seed + run,
                replicas=args.replicas,
                apiserver_restarts=args.apiserver_restarts,
            )
            workdir = scratch / f"run{run}"
            workdir.mkdir(parents=True)
            log(f"run {run + 1}/{args.runs} (seed {plan.seed}, logs in {workdir})")
            # In this process, not a child: the run restarts its API server.
            with DevCluster(workdir=workdir / "cluster") as cluster:
                access = ClusterAccess(
                    kubeconfig=cluster.kubeconfig, kubectl_cache_dir=workdir / "kube"
                )
                for crds in (CRD_FILE, PEERING_CRDS):
                    access.kubectl("apply", "-f", str(crds))
                access.wait_established(
                    "superviselytasks.supervisely.com", "clusterkopfpeerings.kopf.dev"
                )
                await warm_up(cluster.kubeconfig)

                def restart(down_for: float, cluster: DevCluster = cluster) -> None:
                    cluster.restart_apiserver(down_for=down_for)

                report = await run_chaos(
                    plan,
                    kubeconfig=cluster.kubeconfig,
                    namespace="chaos",
                    workdir=workdir,
                    token=f"chaos-{secrets.token_hex(12)}",
                    log=log,
                    restart_apiserver=restart,
                )
            log(f"run {run + 1}: {report.summary()}")
            for violation in report.violations:
                log(f"  VIOLATION: {violation}")
            for line in report.slow_failovers():
                log(f"  slow failover: {line}")
            both += [window.seconds for window in report.overlaps]
            failovers += [seconds for _, seconds in report.failovers]
            clear += report.single_fault_failovers()
            failed += bool(report.violations) or report.settled_s is None
    finally:
        if args.keep_logs:
            log(f"logs kept in {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    log(f"{args.runs - failed} of {args.runs} runs held every invariant")
    if args.replicas > 1:
        longest = max(failovers, default=0.0)
        log(
            f"two replicas acted at once {len(both)} times ({sum(both):.3f} s in all, longest "
            f"{max(both, default=0.0):.3f} s); {len(failovers)} failovers, longest "
            f"{longest:.1f} s; {len(clear)} with no other fault around, longest "
            f"{max(clear, default=0.0):.1f} s"
        )
    return 1 if failed else 0


def main() -> None:
    sys.exit(asyncio.run(main_async(parse_args())))


if __name__ == "__main__":
    main()
