"""``devcluster`` commands: run the local control plane in a terminal, or just fetch its binaries.

``up`` is for demos and manual poking (kubectl, kopf, the operator against a real
API server); ``binaries`` makes the first slow step (decompressing or building)
explicit and shows where the binaries came from.
"""

import logging
import pathlib
import signal
import threading
import time
from types import FrameType

import click

from supervisely_devkit.devcluster.binaries import BinariesNotFoundError, resolve_binaries
from supervisely_devkit.devcluster.cluster import DevCluster, DevClusterStartError


def _configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")


@click.group(name="devcluster")
def devcluster_group() -> None:
    """A local Kubernetes API server (etcd + apiextensions-apiserver) for CRDs."""


@devcluster_group.command()
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=pathlib.Path),
    default=None,
    help="Directory for certificates, logs, etcd data and kubeconfigs (default: a temp dir).",
)
@click.option("--keep", is_flag=True, help="Keep the workdir (and etcd's data) after stopping.")
def up(workdir: pathlib.Path | None, keep: bool) -> None:
    """Start the cluster, print how to reach it, and run until Ctrl-C or SIGTERM."""
    _configure_logging()
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    # Ctrl-C and SIGTERM (from a supervisor or `kill`) only ask the loop below to stop. A
    # KeyboardInterrupt raised wherever the main thread happens to be could land inside
    # subprocess's poll() and leave its lock held, and the stop that follows then waited on
    # that lock forever (seen under load).
    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with DevCluster(workdir=workdir, keep_workdir=keep) as cluster:
            click.echo(f"kubeconfig: {cluster.kubeconfig}")
            click.echo(f"API server (direct, client cert): {cluster.apiserver_kubeconfig}")
            click.echo(f"logs: {cluster.workdir}")
            click.echo(f"started in {cluster.startup_seconds:.1f} s; Ctrl-C stops it")
            click.echo(f"export KUBECONFIG={cluster.kubeconfig}")
            began = time.monotonic()
            while not stop_requested.wait(timeout=1.0):
                exited = cluster.exited_processes()
                if exited:
                    raise click.ClickException(
                        f"{', '.join(exited)} exited unexpectedly; logs in {cluster.workdir}"
                    )
            click.echo(f"stopping after {time.monotonic() - began:.0f} s")
    except (DevClusterStartError, BinariesNotFoundError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo("stopped")


@devcluster_group.command()
@click.option("--no-build", is_flag=True, help="Do not fall back to building from Debian sid.")
def binaries(no_build: bool) -> None:
    """Find (or decompress, or build) etcd and apiextensions-apiserver; print where from."""
    _configure_logging()
    try:
        found = resolve_binaries(allow_build=not no_build)
    except BinariesNotFoundError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"source: {found.source.value} ({found.origin})")
    click.echo(f"etcd: {found.etcd}")
    click.echo(f"apiextensions-apiserver: {found.apiserver}")
