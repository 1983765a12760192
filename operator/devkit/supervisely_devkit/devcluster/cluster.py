"""A real Kubernetes API server for custom resources, started and stopped from Python.

``DevCluster`` runs etcd and ``apiextensions-apiserver`` (the code that serves CRDs
inside every kube-apiserver: schemas, CEL rules, defaulting, pruning, status,
finalizers, watches, server-side apply) on free loopback ports with a private CA,
then the discovery front that makes kubectl and kopf see a whole cluster. It
exists so end-to-end tests run in every ``pytest`` run on a machine where no
other Kubernetes can run. It never leaves a process behind: ``stop()`` kills the
process groups, and it runs on an exception during start, on Ctrl-C (via the
context manager) and at interpreter exit.
"""

import atexit
import contextlib
import logging
import pathlib
import shutil
import socket
import ssl
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from types import TracebackType

from supervisely_devkit.devcluster.binaries import ControlPlaneBinaries, resolve_binaries
from supervisely_devkit.devcluster.certs import CertificatePaths, write_certificates
from supervisely_devkit.devcluster.front import UpstreamConfig, client_ssl_context
from supervisely_devkit.devcluster.front_thread import FrontThread
from supervisely_devkit.devcluster.kubeconfig import write_kubeconfig
from supervisely_devkit.devcluster.processes import ManagedProcess, spawn

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
DEFAULT_READY_TIMEOUT = 60.0
READY_POLL_INTERVAL = 0.1
READY_REQUEST_TIMEOUT = 2.0
# This server's informer-sync check waits on informers for Services and flow-control
# objects that it cannot serve itself, so plain /readyz never turns 200; every other
# check (etcd, the CRD informers and controllers) still must pass.
READY_PATH = "/readyz?exclude=informer-sync"
# Free ports are picked, released, then bound by the servers; another process may take
# one in between (several test runs share a machine), so a start retries on new ports.
PORT_ATTEMPTS = 3
ADDRESS_IN_USE = "address already in use"
DISABLED_ADMISSION_PLUGINS = (
    "NamespaceLifecycle,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,"
    "ValidatingAdmissionPolicy,MutatingAdmissionPolicy"
)
# What a run writes into a workdir it did not create; removed again unless kept.
WORKDIR_ENTRIES = (
    "pki",
    "serving",
    "etcd-data",
    "etcd.log",
    "apiserver.log",
    "kubeconfig",
    "apiserver.kubeconfig",
)


class DevClusterStartError(RuntimeError):
    """The cluster did not come up; the message says which part and shows its log."""

    def __init__(self, message: str, *, port_taken: bool = False) -> None:
        super().__init__(message)
        self.port_taken = port_taken


@dataclass(frozen=True)
class Ports:
    """Loopback ports of one run."""

    etcd_client: int
    etcd_peer: int
    apiserver: int


def pick_free_ports(count: int, *, host: str = HOST) -> list[int]:
    """Ports that were free a moment ago: all bound at once so they differ, then released."""
    with contextlib.ExitStack() as stack:
        sockets = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]


class DevCluster:
    """etcd + apiextensions-apiserver + discovery front; use ``with`` or ``start()``/``stop()``.

    A workdir given by the caller is kept as a directory (only the files a run puts
    there are removed on stop, unless ``keep_workdir``); etcd data in it survives a
    kept run, so ``--workdir X --keep`` gives a cluster that remembers its objects.
    """

    def __init__(
        self,
        *,
        binaries: ControlPlaneBinaries | None = None,
        workdir: pathlib.Path | None = None,
        keep_workdir: bool = False,
        ready_timeout: float = DEFAULT_READY_TIMEOUT,
    ) -> None:
        self._binaries = binaries
        self._requested_workdir = workdir
        self.keep_workdir = keep_workdir
        self.ready_timeout = ready_timeout
        self._created_workdir = False
        self._processes: list[ManagedProcess] = []
        self._front: FrontThread | None = None
        self._ports: Ports | None = None
        self._ssl_context: ssl.SSLContext | None = None
        self._started = False
        self._workdir_in_use = False
        self.workdir = pathlib.Path()
        self.kubeconfig = pathlib.Path()
        self.apiserver_kubeconfig = pathlib.Path()
        self.front_url = ""
        self.apiserver_url = ""
        self.etcd_url = ""
        self.startup_seconds = 0.0
        self.certs: CertificatePaths | None = None

    def __enter__(self) -> "DevCluster":
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def pids(self) -> dict[str, int]:
        """{server name: pid} of the processes this run started; still known after stop()."""
        return {p.name: p.pid for p in self._processes}

    def exited_processes(self) -> list[str]:
        """Names of the servers that have stopped on their own (the cluster is then broken)."""
        return [p.name for p in self._processes if not p.is_running()]

    def start(self) -> "DevCluster":
        """Start everything and wait until the API server is ready; on any failure, clean up."""
        if self._started:
            raise RuntimeError("this DevCluster is already started")
        self._started = True
        began = time.monotonic()
        atexit.register(self.stop)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        logger.info(
            "Dev cluster ready in %.1f s: KUBECONFIG=%s", self.startup_seconds, self.kubeconfig
        )
        return self

    def _start(self) -> None:
        binaries = self._binaries or resolve_binaries()
        self._make_workdir()
        self.certs = write_certificates(
            cert_dir=self.workdir / "pki", serving_dir=self.workdir / "serving", host=HOST
        )
        for attempt in range(1, PORT_ATTEMPTS + 1):
            etcd_client, etcd_peer, apiserver = pick_free_ports(3)
            ports = Ports(etcd_client=etcd_client, etcd_peer=etcd_peer, apiserver=apiserver)
            try:
                self._start_on(ports=ports, binaries=binaries, certs=self.certs)
                return
            except DevClusterStartError as exc:
                if not exc.port_taken or attempt == PORT_ATTEMPTS:
                    raise
                logger.warning("A port was taken meanwhile; starting again on others: %s", exc)
                self._stop_processes()
                self._processes.clear()

    def _start_on(
        self, *, ports: Ports, binaries: ControlPlaneBinaries, certs: CertificatePaths
    ) -> None:
        self.etcd_url = f"http://{HOST}:{ports.etcd_client}"
        self.apiserver_url = f"https://{HOST}:{ports.apiserver}"
        self.apiserver_kubeconfig = write_kubeconfig(
            path=self.workdir / "apiserver.kubeconfig",
            server=self.apiserver_url,
            ca_cert=certs.ca_cert,
            client_cert=certs.client_cert,
            client_key=certs.client_key,
        )
        self._ports = ports
        self._spawn_etcd(binaries=binaries, ports=ports)
        self._spawn_apiserver(binaries=binaries, ports=ports, certs=certs)
        ssl_context = self._ssl_context = client_ssl_context(
            ca_cert=str(certs.ca_cert),
            client_cert=str(certs.client_cert),
            client_key=str(certs.client_key),
        )
        self._wait_ready(ssl_context=ssl_context)
        self._front = FrontThread(
            upstream=UpstreamConfig(url=self.apiserver_url, ssl_context=ssl_context), host=HOST
        )
        self.front_url = self._front.start()
        self.kubeconfig = write_kubeconfig(path=self.workdir / "kubeconfig", server=self.front_url)

    def _make_workdir(self) -> None:
        if self._requested_workdir is None:
            self.workdir = pathlib.Path(tempfile.mkdtemp(prefix="supervisely-devcluster-"))
            self._created_workdir = True
        else:
            self.workdir = self._requested_workdir.resolve()
            self._created_workdir = not self.workdir.exists()
            self.workdir.mkdir(parents=True, exist_ok=True)
        self._workdir_in_use = True

    def _spawn_etcd(self, *, binaries: ControlPlaneBinaries, ports: Ports) -> None:
        argv = [
            str(binaries.etcd),
            "--data-dir", str(self.workdir / "etcd-data"),
            "--listen-client-urls", self.etcd_url,
            "--advertise-client-urls", self.etcd_url,
            "--listen-peer-urls", f"http://{HOST}:{ports.etcd_peer}",
        ]  # fmt: skip
        self._processes.append(
            spawn(name="etcd", argv=argv, log_path=self.workdir / "etcd.log", cwd=self.workdir)
        )

    def _spawn_apiserver(
        self, *, binaries: ControlPlaneBinaries, ports: Ports, certs: CertificatePaths
    ) -> None:
        kubeconfig = str(self.apiserver_kubeconfig)
        argv = [
            str(binaries.apiserver),
            "--etcd-servers", self.etcd_url,
            "--secure-port", str(ports.apiserver),
            "--bind-address", HOST,
            "--cert-dir", str(self.workdir / "serving"),
            "--client-ca-file", str(certs.ca_cert),
            "--authentication-kubeconfig", kubeconfig,
            "--authentication-skip-lookup",
            "--authorization-kubeconfig", kubeconfig,
            "--kubeconfig", kubeconfig,
            "--disable-admission-plugins", DISABLED_ADMISSION_PLUGINS,
        ]  # fmt: skip
        self._processes.append(
            spawn(
                name="apiextensions-apiserver",
                argv=argv,
                log_path=self.workdir / "apiserver.log",
                cwd=self.workdir,
            )
        )

    def _wait_ready(self, *, ssl_context: ssl.SSLContext) -> None:
        """Poll the readiness endpoint until 200, a server exits, or the deadline passes."""
        deadline = time.monotonic() + self.ready_timeout
        url = self.apiserver_url + READY_PATH
        last_answer = "no answer yet"
        while True:
            for process in self._processes:
                if not process.is_running():
                    tail = process.log_tail()
                    raise DevClusterStartError(
                        f"{process.name} exited with code {process.popen.returncode} while "
                        f"starting; last lines of {process.log_path}:\n{tail}",
                        port_taken=ADDRESS_IN_USE in tail,
                    )
            try:
                with urllib.request.urlopen(  # noqa: S310 - a fixed https URL on loopback
                    url, context=ssl_context, timeout=READY_REQUEST_TIMEOUT
                ) as response:
                    if response.status == 200:
                        return
                    last_answer = f"HTTP {response.status}"
            except urllib.error.HTTPError as exc:
                with contextlib.closing(exc):
                    last_answer = f"HTTP {exc.code}: {exc.read(500).decode(errors='replace')}"
            except (urllib.error.URLError, OSError) as exc:
                last_answer = repr(exc)
            if time.monotonic() >= deadline:
                apiserver = self._processes[-1]
                raise DevClusterStartError(
                    f"the API server was not ready within {self.ready_timeout:.0f} s "
                    f"(last answer: {last_answer}); last lines of {apiserver.log_path}:\n"
                    f"{apiserver.log_tail()}"
                )
            time.sleep(READY_POLL_INTERVAL)

    def restart_apiserver(self, *, down_for: float = 0.0) -> None:
        """Stop the API server, keep it down ``down_for`` seconds, start it again on its port.

        etcd keeps the data and the front keeps its port, so clients see an outage and then the
        same cluster, as when a control plane node restarts.
        """
        if self._ports is None or self.certs is None or self._ssl_context is None:
            raise RuntimeError("the DevCluster is not started")
        apiserver = next(p for p in self._processes if p.name == "apiextensions-apiserver")
        apiserver.stop(grace=1.0)  # it drains for seconds after SIGTERM; a crash is abrupter
        self._processes.remove(apiserver)
        time.sleep(down_for)
        binaries = self._binaries or resolve_binaries()
        self._spawn_apiserver(binaries=binaries, ports=self._ports, certs=self.certs)
        self._wait_ready(ssl_context=self._ssl_context)

    def stop(self) -> None:
        """Stop the front, the API server and etcd (in that order); clean the workdir.

        Safe to call twice, and after a failed start.
        """
        atexit.unregister(self.stop)
        if self._front is not None:
            self._front.stop()
            self._front = None
        self._stop_processes()
        if self._workdir_in_use and not self.keep_workdir:
            self._clean_workdir()
        self._workdir_in_use = False

    def _stop_processes(self) -> None:
        for process in reversed(self._processes):
            process.stop()

    def _clean_workdir(self) -> None:
        if self._created_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        else:
            for name in WORKDIR_ENTRIES:
                path = self.workdir / name
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
