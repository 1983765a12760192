"""What a shorter watch timeout costs: every reconnect is a watch from the last
resourceVersion, and a resourceVersion the API server no longer remembers costs a full list.

kopf gives up on a stream that delivered nothing for ``watching.inactivity_timeout`` seconds and
opens the next one from the last resourceVersion it saw (from an event or a bookmark); the API
server ends every stream after ``timeoutSeconds`` (kopf's ``server_timeout``) and kopf opens the
next one the same way. To notice a silent stream sooner, one of them must be shorter, so the
questions are: does a healthy quiet stream deliver anything on its own (bookmarks) that would
keep it from being given up, what does a reconnect cost, and does a reconnect from an old
resourceVersion force a full list (410 Gone)?

This run measures each on the local control plane, with 1,000 quiet objects while another
resource changes twice a second (as Leases and Events do in any cluster): what consecutive
streams of ``--stream-seconds`` deliver, what a reconnect and a full list cost, and the answer
to reconnects from ever older resourceVersions. Numbers from a shared 2-core machine are noisy.

Usage: ``.venv/bin/python bench/watch_reconnects.py [--objects 1000] [--stream-seconds 30]
[--streams 4] [--gaps 10,30,70,150,300]``; prints a Markdown report
(``bench/results/watch-reconnects.md``).
"""

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp

from supervisely_devkit.devcluster.access import ClusterAccess
from supervisely_devkit.devcluster.cluster import DevCluster
from supervisely_operator.api import resource

from scalebench.kube import Kube, TaskObjects, kube_session, run_bounded

REPO = Path(__file__).resolve().parents[1]
CRD_FILE = REPO / "crds" / "superviselytask.yaml"
PEERING_CRDS = REPO / "charts" / "supervisely-operator" / "crds" / "kopfpeerings.yaml"
NAMESPACE = "quiet"
TASKS = f"/apis/{resource.GROUP}/{resource.VERSION}/namespaces/{NAMESPACE}/{resource.PLURAL}"
CHURN = "/apis/kopf.dev/v1/clusterkopfpeerings/churn"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--gaps", default="10,30,70,150,300")
    parser.add_argument("--stream-seconds", type=int, default=30)
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--churn-interval", type=float, default=0.5)
    return parser.parse_args()


async def churn(kube: Kube, interval: float) -> None:
    """Another resource changes all the time, as Leases and Events do in any cluster: the
    cluster's resourceVersion moves on while the watched resource stays quiet."""
    count = 0
    headers = {"Content-Type": "application/merge-patch+json"}
    while True:
        count += 1
        body = json.dumps({"status": {"bench": {"n": count}}})
        async with kube.session.patch(kube.url(CHURN), data=body, headers=headers) as reply:
            reply.raise_for_status()
        await asyncio.sleep(interval)


async def list_once(kube: Kube) -> tuple[str, float, int]:
    """(resourceVersion, seconds, bytes) of a full list of the quiet resource."""
    began = time.monotonic()
    async with kube.session.get(kube.url(TASKS)) as reply:
        body = await reply.read()
    took = time.monotonic() - began
    return json.loads(body)["metadata"]["resourceVersion"], took, len(body)


async def watch_from(
    kube: Kube, version: str, *, seconds: float
) -> tuple[list[dict[str, Any]], float, int]:
    """Events of a watch from ``version`` that lasts ``seconds`` (the server ends it), with the
    time until its response began and the bytes it carried."""
    params = {
        "watch": "true",
        "allowWatchBookmarks": "true",
        "resourceVersion": version,
        "timeoutSeconds": str(max(1, round(seconds))),
    }
    events: list[dict[str, Any]] = []
    began = time.monotonic()
    size = 0
    timeout = aiohttp.ClientTimeout(total=seconds + 30)
    async with kube.session.get(kube.url(TASKS), params=params, timeout=timeout) as reply:
        headers = time.monotonic() - began
        async for line in reply.content:
            size += len(line)
            if line.strip():
                event = json.loads(line)
                event["at"] = round(time.monotonic() - began, 1)
                events.append(event)
    return events, headers, size


def describe(events: list[dict[str, Any]]) -> str:
    if not events:
        return "nothing"
    kinds = []
    for event in events:
        if event["type"] == "ERROR":
            kinds.append(f"ERROR {event['object'].get('code')} at {event['at']} s")
        else:
            kinds.append(f"{event['type']} at {event['at']} s")
    return ", ".join(kinds)


async def measure(kubeconfig: Path, args: argparse.Namespace) -> None:
    async with kube_session(kubeconfig, for_watch=True) as kube:
        await wait_served(kube)
        async with kube.session.post(
            kube.url("/apis/kopf.dev/v1/clusterkopfpeerings"),
            json={"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering",
                  "metadata": {"name": "churn"}},
        ) as reply:  # fmt: skip
            reply.raise_for_status()
        objects = TaskObjects(kube, NAMESPACE)
        began = time.monotonic()

        async def create(index: int) -> None:
            await objects.create(manifest(index))

        failures = await run_bounded(range(args.objects), create)
        assert not failures, failures[:3]
        print(f"# Watch reconnects, {args.objects} quiet objects\n")
        print(f"Created {args.objects} objects in {time.monotonic() - began:.1f} s.\n")
        churner = asyncio.create_task(churn(kube, args.churn_interval))
        try:
            await report(kube, args)
        finally:
            churner.cancel()


async def wait_served(kube: Kube) -> None:
    for _ in range(120):
        async with kube.session.get(kube.url(TASKS)) as reply:
            if reply.status == 200:
                return
        await asyncio.sleep(0.5)
    raise RuntimeError("the resource is not served")


def manifest(index: int) -> dict[str, Any]:
    return {
        "apiVersion": resource.API_VERSION,
        "kind": resource.KIND,
        "metadata": {"name": f"quiet-{index:05d}", "namespace": NAMESPACE},
        "spec": {"workspaceId": 1, "moduleId": 103},
    }


async def report(kube: Kube, args: argparse.Namespace) -> None:
    lists = [await list_once(kube) for _ in range(5)]
    version = lists[-1][0]
    reconnects = [await watch_from(kube, version, seconds=1) for _ in range(5)]
    print("| request | answered in (median of 5) | bytes |")
    print("|---|---|---|")
    took = sorted(seconds for _, seconds, _ in lists)[len(lists) // 2]
    print(f"| full list of {args.objects} objects | {took * 1000:.0f} ms | {lists[-1][2]} |")
    took = sorted(headers for _, headers, _ in reconnects)[len(reconnects) // 2]
    size = reconnects[-1][2]
    print(f"| watch from the last resourceVersion (a reconnect) | {took * 1000:.0f} ms | {size} |")
    print()
    print(f"## {args.streams} consecutive quiet streams of {args.stream_seconds} s\n")
    print("Each from the resourceVersion the one before left, as kopf reconnects.\n")
    for index in range(args.streams):
        events, _, _ = await watch_from(kube, version, seconds=args.stream_seconds)
        for event in events:
            version = event["object"].get("metadata", {}).get("resourceVersion", version)
        print(f"- stream {index + 1}: {describe(events)}", flush=True)
    print("\n## Reconnecting from an old resourceVersion\n")
    print("| resourceVersion this old | answer |")
    print("|---|---|")
    gaps = [float(gap) for gap in args.gaps.split(",")]
    waited = 0.0
    version, _, _ = await list_once(kube)
    for gap in gaps:
        await asyncio.sleep(gap - waited)
        waited = gap
        events, headers, size = await watch_from(kube, version, seconds=1)
        print(f"| {gap:.0f} s | {describe(events)}; {size} bytes, answered in "
              f"{headers * 1000:.0f} ms |", flush=True)  # fmt: skip


def main() -> None:
    args = parse_args()
    with DevCluster() as cluster:
        access = ClusterAccess(kubeconfig=cluster.kubeconfig, kubectl_cache_dir=cluster.workdir)
        for crds in (CRD_FILE, PEERING_CRDS):
            access.kubectl("apply", "-f", str(crds))
        access.wait_established("superviselytasks.supervisely.com", "clusterkopfpeerings.kopf.dev")
        asyncio.run(measure(cluster.kubeconfig, args))


if __name__ == "__main__":
    main()
