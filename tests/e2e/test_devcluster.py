"""The local control plane behaves like a Kubernetes cluster for CRDs, through kubectl.

A small CRD of this file's own (a description on a field, a CEL rule, a printer
column) proves what the operator's tests rely on: discovery, plain ``kubectl
apply -f``, strict unknown-field errors, ``kubectl explain``, CEL validation,
watches through the discovery front, and a cluster that leaves nothing behind.
"""

import os
import pathlib
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, watch

from supervisely_devkit.devcluster.access import ClusterAccess
from supervisely_devkit.devcluster.cluster import DevCluster
from supervisely_devkit.devcluster.processes import TERMINATE_GRACE_SECONDS

GROUP = "devcluster.example.test"
VERSION = "v1"
PLURAL = "widgets"
CRD_NAME = f"{PLURAL}.{GROUP}"
NAMESPACE = "default"
SIZE_DESCRIPTION = "How large the widget is, in centimetres."
CEL_MESSAGE = "size must be at most 100"
EVENT_DEADLINE = 15.0
WATCH_SERVER_TIMEOUT = 30

CRD_YAML = f"""
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {CRD_NAME}
spec:
  group: {GROUP}
  scope: Namespaced
  names: {{kind: Widget, plural: {PLURAL}, singular: widget, listKind: WidgetList}}
  versions:
    - name: {VERSION}
      served: true
      storage: true
      subresources: {{status: {{}}}}
      additionalPrinterColumns:
        - {{name: Size, type: integer, jsonPath: .spec.size}}
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              description: What the widget should be.
              properties:
                size:
                  type: integer
                  description: {SIZE_DESCRIPTION}
                  x-kubernetes-validations:
                    - rule: "self <= 100"
                      message: {CEL_MESSAGE}
"""


def _widget(name: str, spec: str) -> str:
    return (
        f"apiVersion: {GROUP}/{VERSION}\nkind: Widget\nmetadata: {{name: {name}}}\nspec: {spec}\n"
    )


@pytest.fixture(scope="module")
def widget_crd(kube_cluster: ClusterAccess) -> Iterator[str]:
    kube_cluster.kubectl("apply", "-f", "-", input=CRD_YAML)
    kube_cluster.wait_established(CRD_NAME, timeout=30)
    yield CRD_NAME
    kube_cluster.kubectl("delete", "crd", CRD_NAME, "--timeout=30s", check=False)


def test_api_resources_lists_the_crd(kube_cluster: ClusterAccess, widget_crd: str) -> None:
    listed = kube_cluster.kubectl("api-resources", f"--api-group={GROUP}", "-o", "name")
    assert listed.stdout.split() == [CRD_NAME]


def test_plain_apply_creates_then_updates(kube_cluster: ClusterAccess, widget_crd: str) -> None:
    created = kube_cluster.kubectl("apply", "-f", "-", input=_widget("applied", "{size: 3}"))
    assert "created" in created.stdout
    updated = kube_cluster.kubectl("apply", "-f", "-", input=_widget("applied", "{size: 4}"))
    assert "configured" in updated.stdout
    table = kube_cluster.kubectl("get", f"{PLURAL}.{GROUP}", "applied")
    header, row = table.stdout.splitlines()
    assert header.split() == ["NAME", "SIZE"]  # printer columns replace the default AGE
    assert row.split()[:2] == ["applied", "4"]


def test_an_unknown_field_is_refused_strictly(kube_cluster: ClusterAccess, widget_crd: str) -> None:
    refused = kube_cluster.kubectl(
        "apply", "-f", "-", input=_widget("unknown-field", "{size: 3, x: 1}"), check=False
    )
    assert refused.returncode != 0
    assert 'strict decoding error: unknown field "spec.x"' in refused.stderr


def test_explain_prints_field_descriptions(kube_cluster: ClusterAccess, widget_crd: str) -> None:
    explained = kube_cluster.kubectl(
        "explain", f"{PLURAL}.spec.size", f"--api-version={GROUP}/{VERSION}"
    )
    assert SIZE_DESCRIPTION in explained.stdout
    metadata = kube_cluster.kubectl(
        "explain", f"{PLURAL}.metadata.labels", f"--api-version={GROUP}/{VERSION}"
    )
    assert "map[string]string" in metadata.stdout  # ObjectMeta is published too


def test_a_cel_rule_violation_is_refused_with_its_message(
    kube_cluster: ClusterAccess, widget_crd: str
) -> None:
    refused = kube_cluster.kubectl(
        "apply", "-f", "-", input=_widget("too-large", "{size: 500}"), check=False
    )
    assert refused.returncode != 0
    assert CEL_MESSAGE in refused.stderr
    missing = kube_cluster.kubectl("get", f"{PLURAL}.{GROUP}", "too-large", check=False)
    assert "NotFound" in missing.stderr


def _watch_into(
    *, api: client.CustomObjectsApi, resource_version: str, name: str, events: "queue.Queue[Any]"
) -> None:
    """Put each watch event (or the exception that ended the watch) into ``events``."""
    watcher = watch.Watch()
    try:
        for event in watcher.stream(
            api.list_namespaced_custom_object, GROUP, VERSION, NAMESPACE, PLURAL,
            resource_version=resource_version, timeout_seconds=WATCH_SERVER_TIMEOUT,
        ):  # fmt: skip
            events.put(event)
            if event["object"]["metadata"]["name"] == name:
                watcher.stop()
    except Exception as exc:  # handed to the test thread, which fails with it
        events.put(exc)


def test_a_watch_through_the_front_streams_events_as_they_happen(
    kube_cluster: ClusterAccess, widget_crd: str
) -> None:
    name = "watched"
    with kube_cluster.api_client() as api_client:
        api = client.CustomObjectsApi(api_client)
        listing = api.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL)
        events: queue.Queue[Any] = queue.Queue()
        watcher = threading.Thread(
            target=_watch_into,
            kwargs={"api": api, "resource_version": listing["metadata"]["resourceVersion"],
                    "name": name, "events": events},
            daemon=True,
        )  # fmt: skip
        watcher.start()
        began = time.monotonic()
        # The kubernetes client sends this create without a Content-Type header.
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Widget",
                "metadata": {"name": name}, "spec": {"size": 9}}  # fmt: skip
        api.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, body)
        event = events.get(timeout=EVENT_DEADLINE)
        elapsed = time.monotonic() - began
        watcher.join(timeout=EVENT_DEADLINE)
    assert not isinstance(event, Exception), event
    assert event["type"] == "ADDED"
    assert event["object"]["metadata"]["name"] == name
    assert event["object"]["spec"] == {"size": 9}
    # Well before the server would end the watch: the front streamed it, not buffered it.
    assert elapsed < WATCH_SERVER_TIMEOUT / 2
    assert not watcher.is_alive()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_stopped_cluster_leaves_no_process_and_no_workdir(kube_cluster: ClusterAccess) -> None:
    if kube_cluster.dev_cluster is None:
        pytest.skip("the session runs against an external cluster; local binaries may be absent")
    cluster = DevCluster()
    with cluster:
        pids = cluster.pids
        assert set(pids) == {"etcd", "apiextensions-apiserver"}
        assert all(_alive(pid) for pid in pids.values())
        workdir = cluster.workdir
        assert (workdir / "kubeconfig").is_file()
    assert not any(_alive(pid) for pid in pids.values())
    assert not workdir.exists()


def _lines_into(stream: Any, lines: "queue.Queue[str]") -> None:
    for line in stream:
        lines.put(line)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_the_up_command_serves_until_signalled_then_cleans_up(
    kube_cluster: ClusterAccess, stop_signal: signal.Signals
) -> None:
    if kube_cluster.dev_cluster is None:
        pytest.skip("the session runs against an external cluster; local binaries may be absent")
    command = "from supervisely_devkit.devcluster.cli import devcluster_group; devcluster_group()"
    with subprocess.Popen(
        [sys.executable, "-c", command, "up"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    ) as process:  # fmt: skip
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_lines_into, args=(process.stdout, lines), daemon=True).start()
        try:
            line = ""
            while not line.startswith("export KUBECONFIG="):
                line = lines.get(timeout=EVENT_DEADLINE)
            kubeconfig = pathlib.Path(line.strip().split("=", 1)[1])
            access = ClusterAccess(kubeconfig=kubeconfig, kubectl_cache_dir=kubeconfig.parent)
            assert (
                "customresourcedefinitions" in access.kubectl("api-resources", "-o", "name").stdout
            )
            process.send_signal(stop_signal)
            # It stops the API server and etcd in turn, each given its grace before a SIGKILL.
            assert process.wait(timeout=2 * TERMINATE_GRACE_SECONDS + EVENT_DEADLINE) == 0
        finally:
            process.kill()
    assert not kubeconfig.parent.exists()
