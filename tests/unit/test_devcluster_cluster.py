"""DevCluster start failures, with stand-in shell scripts for etcd and the API server.

What matters here is that a start that goes wrong never hangs and never leaves
anything behind: the error says which server failed and shows its log, every
process group is gone, and the temp workdir is removed. The real servers are
exercised by tests/e2e.
"""

import os
import pathlib
import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest

from supervisely_devkit.devcluster.binaries import BinarySource, ControlPlaneBinaries
from supervisely_devkit.devcluster.cluster import (
    DevCluster,
    DevClusterStartError,
    pick_free_ports,
)
from supervisely_devkit.devcluster.processes import _with_parent_death_signal

LONG_SLEEP = "exec sleep 120\n"


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _fake_binaries(directory: pathlib.Path, *, apiserver_script: str) -> ControlPlaneBinaries:
    directory.mkdir()
    etcd = directory / "etcd"
    etcd.write_text("#!/bin/sh\n" + LONG_SLEEP)
    apiserver = directory / "apiextensions-apiserver"
    apiserver.write_text("#!/bin/sh\n" + apiserver_script)
    for path in (etcd, apiserver):
        path.chmod(0o755)
    return ControlPlaneBinaries(
        etcd=etcd, apiserver=apiserver, source=BinarySource.ENV_DIR, origin=directory
    )


def test_free_ports_are_distinct() -> None:
    ports = pick_free_ports(3)
    assert len(set(ports)) == 3
    assert all(1024 <= port <= 65535 for port in ports)


def test_an_apiserver_that_exits_fails_the_start_with_its_log(tmp_path: pathlib.Path) -> None:
    binaries = _fake_binaries(
        tmp_path / "bin", apiserver_script='echo "Error: unknown flag --bogus" >&2\nexit 3\n'
    )
    cluster = DevCluster(binaries=binaries, ready_timeout=30)
    with pytest.raises(DevClusterStartError, match="unknown flag --bogus") as caught:
        cluster.start()
    assert "apiextensions-apiserver exited with code 3" in str(caught.value)
    assert set(cluster.pids) == {"etcd", "apiextensions-apiserver"}
    for pid in cluster.pids.values():
        assert not _pid_exists(pid)
    assert not cluster.workdir.exists()


def test_an_apiserver_that_never_gets_ready_times_out(tmp_path: pathlib.Path) -> None:
    binaries = _fake_binaries(tmp_path / "bin", apiserver_script="echo starting\n" + LONG_SLEEP)
    cluster = DevCluster(binaries=binaries, ready_timeout=1.0)
    with pytest.raises(DevClusterStartError, match="not ready within 1 s") as caught:
        cluster.start()
    assert "starting" in str(caught.value)  # the log tail
    for pid in cluster.pids.values():
        assert not _pid_exists(pid)


def test_a_given_workdir_is_kept_but_cleaned_of_what_the_run_wrote(tmp_path: pathlib.Path) -> None:
    workdir = tmp_path / "mine"
    workdir.mkdir()
    (workdir / "notes.txt").write_text("the user's own file")
    binaries = _fake_binaries(tmp_path / "bin", apiserver_script="exit 1\n")
    with pytest.raises(DevClusterStartError):
        DevCluster(binaries=binaries, workdir=workdir).start()
    assert sorted(p.name for p in workdir.iterdir()) == ["notes.txt"]


def test_keep_workdir_leaves_logs_for_a_post_mortem(tmp_path: pathlib.Path) -> None:
    binaries = _fake_binaries(tmp_path / "bin", apiserver_script="echo broken >&2\nexit 1\n")
    cluster = DevCluster(binaries=binaries, keep_workdir=True)
    with pytest.raises(DevClusterStartError):
        cluster.start()
    try:
        assert "broken" in (cluster.workdir / "apiserver.log").read_text()
        assert (cluster.workdir / "pki" / "ca.crt").is_file()
    finally:
        shutil.rmtree(cluster.workdir)


def test_a_port_taken_meanwhile_is_retried_on_other_ports(tmp_path: pathlib.Path) -> None:
    attempts = tmp_path / "attempts"
    script = (
        f"echo run >> {attempts}\n"
        f"if [ $(wc -l < {attempts}) -eq 1 ]; then\n"
        "  echo 'listen tcp 127.0.0.1:1: bind: address already in use' >&2; exit 1\n"
        "fi\n"
        "echo 'second start fails differently' >&2; exit 2\n"
    )
    binaries = _fake_binaries(tmp_path / "bin", apiserver_script=script)
    with pytest.raises(DevClusterStartError, match="second start fails differently") as caught:
        DevCluster(binaries=binaries).start()
    assert not caught.value.port_taken
    assert attempts.read_text().splitlines() == ["run", "run"]


def test_only_a_server_started_from_the_main_thread_dies_with_its_starter() -> None:
    """Linux sends the parent-death signal when the starting thread exits: an API server that
    the chaos run restarts from a worker thread must not die with that thread."""
    if shutil.which("setpriv") is None:
        pytest.skip("no setpriv here: no server dies with its starter")
    assert "--pdeathsig" in _with_parent_death_signal(["server"])
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(_with_parent_death_signal, ["server"]).result() == ["server"]
