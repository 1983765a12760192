"""Where the control-plane binaries come from: the order of sources, the cache, the checks.

Every test builds its own world in temp dirs (an env dir, a cache, a fake
``shared/controlplane`` beside a fake repository) and passes an explicit
environment, so the real cache and the real shared copy are never touched.
"""

import hashlib
import lzma
import os
import pathlib

import pytest

from supervisely_devkit.devcluster.binaries import (
    APISERVER,
    BINARY_NAMES,
    ENV_CONTROLPLANE_DIR,
    ENV_SHARED_DIR,
    ETCD,
    BinariesNotFoundError,
    BinarySource,
    resolve_binaries,
    user_cache_dir,
)
from supervisely_devkit.devcluster.debian_build import (
    DebianBuildError,
    PrivateApt,
    parse_golang_closure,
    system_debian_mirror,
)

CONTENT = {ETCD: b"#!/bin/sh\necho etcd\n", APISERVER: b"#!/bin/sh\necho apiserver\n"}


def _write_binaries(directory: pathlib.Path, *, marker: bytes = b"") -> pathlib.Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in CONTENT.items():
        (directory / name).write_bytes(content + marker)
        (directory / name).chmod(0o755)
    return directory


def _write_shared(directory: pathlib.Path, *, corrupt: str | None = None) -> pathlib.Path:
    """A shared/controlplane copy: xz files plus SHA256SUMS (wrong for ``corrupt``)."""
    directory.mkdir(parents=True)
    lines = []
    for name, content in CONTENT.items():
        (directory / f"{name}.xz").write_bytes(lzma.compress(content))
        digest = hashlib.sha256(content).hexdigest()
        if name == corrupt:
            digest = hashlib.sha256(b"something else").hexdigest()
        lines.append(f"{digest}  {name}\n")
    (directory / "SHA256SUMS").write_text("".join(lines))
    return directory


@pytest.fixture
def world(tmp_path: pathlib.Path) -> dict[str, pathlib.Path]:
    """A repository with a sibling shared/ dir, and a cache home; nothing filled in yet."""
    repo = tmp_path / "checkout" / "main"
    (repo / "sub").mkdir(parents=True)
    (repo / "pyproject.toml").write_text("")
    return {
        "repo": repo,
        "shared_controlplane": tmp_path / "checkout" / "shared" / "controlplane",
        "cache_home": tmp_path / "cache-home",
        "env_dir": tmp_path / "env-dir",
    }


def _env(world: dict[str, pathlib.Path], **extra: str) -> dict[str, str]:
    return {"XDG_CACHE_HOME": str(world["cache_home"]), **extra}


def _cache(world: dict[str, pathlib.Path]) -> pathlib.Path:
    return user_cache_dir(env=_env(world))


def test_cache_dir_follows_xdg_cache_home(tmp_path: pathlib.Path) -> None:
    cache = user_cache_dir(env={"XDG_CACHE_HOME": str(tmp_path)})
    assert cache == tmp_path / "supervisely-operator" / "controlplane"


def test_the_env_dir_wins_over_cache_and_shared(world: dict[str, pathlib.Path]) -> None:
    _write_binaries(world["env_dir"])
    _write_binaries(_cache(world))
    _write_shared(world["shared_controlplane"])
    found = resolve_binaries(
        env=_env(world, **{ENV_CONTROLPLANE_DIR: str(world["env_dir"])}),
        search_from=[world["repo"]],
        allow_build=False,
    )
    assert found.source is BinarySource.ENV_DIR
    assert found.etcd == world["env_dir"] / ETCD
    assert found.apiserver == world["env_dir"] / APISERVER


def test_an_incomplete_env_dir_falls_through_to_the_cache(world: dict[str, pathlib.Path]) -> None:
    world["env_dir"].mkdir()
    (world["env_dir"] / ETCD).write_bytes(b"only one")
    _write_binaries(_cache(world))
    found = resolve_binaries(
        env=_env(world, **{ENV_CONTROLPLANE_DIR: str(world["env_dir"])}),
        search_from=[world["repo"]],
        allow_build=False,
    )
    assert found.source is BinarySource.CACHE
    assert found.etcd == _cache(world) / ETCD


def test_the_shared_copy_is_checked_and_stored_into_the_cache(
    world: dict[str, pathlib.Path],
) -> None:
    _write_shared(world["shared_controlplane"])
    found = resolve_binaries(
        env=_env(world), search_from=[world["repo"] / "sub"], allow_build=False
    )
    assert found.source is BinarySource.SHARED
    assert found.origin == world["shared_controlplane"]
    for name in BINARY_NAMES:
        cached = _cache(world) / name
        assert cached.read_bytes() == CONTENT[name]
        assert os.access(cached, os.X_OK)
    assert sorted(p.name for p in _cache(world).iterdir()) == sorted(BINARY_NAMES)
    again = resolve_binaries(env=_env(world), search_from=[world["repo"]], allow_build=False)
    assert again.source is BinarySource.CACHE


def test_the_shared_copy_is_found_from_a_project_nested_in_the_repository(
    world: dict[str, pathlib.Path],
) -> None:
    """This package lies in operator/devkit/, a project of its own inside the repository."""
    nested = world["repo"] / "operator" / "devkit"
    (nested / "supervisely_devkit").mkdir(parents=True)
    (nested / "pyproject.toml").write_text("")
    _write_shared(world["shared_controlplane"])
    found = resolve_binaries(
        env=_env(world), search_from=[nested / "supervisely_devkit"], allow_build=False
    )
    assert found.source is BinarySource.SHARED
    assert found.origin == world["shared_controlplane"]


@pytest.mark.parametrize("point_at", ["shared", "controlplane"])
def test_the_shared_dir_can_be_named_by_env(world: dict[str, pathlib.Path], point_at: str) -> None:
    shared = _write_shared(world["shared_controlplane"])
    named = shared if point_at == "controlplane" else shared.parent
    found = resolve_binaries(
        env=_env(world, **{ENV_SHARED_DIR: str(named)}), search_from=[], allow_build=False
    )
    assert found.source is BinarySource.SHARED
    assert found.origin == shared


def test_a_checksum_mismatch_is_rejected_with_a_clear_error(
    world: dict[str, pathlib.Path],
) -> None:
    _write_shared(world["shared_controlplane"], corrupt=APISERVER)
    with pytest.raises(BinariesNotFoundError, match="checksum mismatch") as caught:
        resolve_binaries(env=_env(world), search_from=[world["repo"]], allow_build=False)
    assert APISERVER in str(caught.value)
    cache = _cache(world)
    assert not cache.exists() or list(cache.iterdir()) == []  # nothing half-installed


def test_nothing_anywhere_lists_every_source_tried(world: dict[str, pathlib.Path]) -> None:
    with pytest.raises(BinariesNotFoundError) as caught:
        resolve_binaries(env=_env(world), search_from=[world["repo"]], allow_build=False)
    tried = [attempt.source for attempt in caught.value.attempts]
    assert tried == [
        BinarySource.ENV_DIR, BinarySource.CACHE, BinarySource.SHARED, BinarySource.DEBIAN_BUILD,
    ]  # fmt: skip
    message = str(caught.value)
    assert str(world["shared_controlplane"]) in message
    assert ENV_CONTROLPLANE_DIR in message


def test_the_build_is_the_last_resort_and_fills_the_cache(world: dict[str, pathlib.Path]) -> None:
    def builder(work_dir: pathlib.Path) -> pathlib.Path:
        return _write_binaries(work_dir / "out", marker=b"# built\n")

    found = resolve_binaries(env=_env(world), search_from=[world["repo"]], builder=builder)
    assert found.source is BinarySource.DEBIAN_BUILD
    assert found.etcd.read_bytes().endswith(b"# built\n")
    assert found.etcd.parent == _cache(world)
    assert os.access(found.apiserver, os.X_OK)


def test_a_failed_build_is_reported_with_its_reason(world: dict[str, pathlib.Path]) -> None:
    def builder(work_dir: pathlib.Path) -> pathlib.Path:
        raise DebianBuildError("go build failed with exit code 2")

    with pytest.raises(BinariesNotFoundError, match="go build failed with exit code 2"):
        resolve_binaries(env=_env(world), search_from=[world["repo"]], builder=builder)


def test_the_golang_closure_keeps_real_golang_packages_only() -> None:
    output = "\n".join([
        "golang-k8s-apiextensions-apiserver-dev",
        "  Depends: golang-github-spf13-cobra-dev",
        "  Depends: <golang-k8s-sigs-yaml-dev>",
        "golang-github-spf13-cobra-dev",
        "  Depends: golang-github-spf13-pflag-dev",
        "<golang-k8s-sigs-yaml-dev>",
        "golang-github-spf13-pflag-dev",
        "libc6",
        "golang-github-spf13-cobra-dev",
    ])  # fmt: skip
    assert parse_golang_closure(output) == [
        "golang-k8s-apiextensions-apiserver-dev",
        "golang-github-spf13-cobra-dev",
        "golang-github-spf13-pflag-dev",
    ]


def test_the_private_apt_config_never_touches_system_state(tmp_path: pathlib.Path) -> None:
    apt = PrivateApt(root=tmp_path)
    apt.prepare(mirror="http://mirror.invalid/debian")
    options = apt.options
    settings = dict(o.split("=", 1) for o in options if o != "-o")
    assert settings["Dir::State::status"] == "/dev/null"
    assert settings["Dir::State::Lists"] == str(tmp_path / "lists")
    assert settings["Dir::Etc::SourceParts"] == str(tmp_path / "empty.d")
    sources = (tmp_path / "sources.list").read_text()
    assert " http://mirror.invalid/debian sid main" in sources


def test_the_debian_mirror_comes_from_the_machines_apt_sources(tmp_path: pathlib.Path) -> None:
    listing = tmp_path / "sources.list.d"
    listing.mkdir()
    (listing / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.invalid/debian-security\nSuites: x-security\n\n"
        "Types: deb\nURIs: http://mirror.invalid/debian/\nSuites: x\n"
    )
    assert system_debian_mirror([tmp_path / "none.list", listing]) == "http://mirror.invalid/debian"
    (tmp_path / "sources.list").write_text("deb [arch=amd64] http://other.invalid/debian x main\n")
    assert system_debian_mirror([tmp_path / "sources.list"]) == "http://other.invalid/debian"
    with pytest.raises(DebianBuildError, match="SUPERVISELY_OPERATOR_DEBIAN_MIRROR"):
        system_debian_mirror([tmp_path / "none.list"])
