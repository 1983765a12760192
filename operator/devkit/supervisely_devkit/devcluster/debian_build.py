"""Build ``apiextensions-apiserver`` and fetch ``etcd`` from Debian sid, the last resort.

Debian bookworm has neither a recent Go toolchain nor the Kubernetes libraries;
sid has both, packaged as Go *source*. So the build uses a private apt
configuration (its own sources list, lists, cache, and an empty dpkg status) that
never touches the system's package state, downloads the toolchain, the
``golang-*`` closure of ``golang-k8s-apiextensions-apiserver-dev`` and
``etcd-server``, unpacks them into a private prefix and runs a GOPATH-mode
``go build``. It takes about 5 minutes on 2 cores; sid moves daily, so it may fail
while packages are in transition, which is why the prebuilt copy is tried first.
Every subprocess has a timeout, and a failure names the step and shows its log.
"""

import logging
import os
import pathlib
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

logger = logging.getLogger(__name__)

# The mirror is the one this machine's apt already uses (its Debian archive line), so the
# project names no package host of its own; the variable below overrides it.
APT_SOURCES = (pathlib.Path("/etc/apt/sources.list"), pathlib.Path("/etc/apt/sources.list.d"))
ENV_DEBIAN_MIRROR = "SUPERVISELY_OPERATOR_DEBIAN_MIRROR"
SUITE = "sid"
GO_SERIES = "1.27"
TOOLCHAIN_PACKAGES = (f"golang-{GO_SERIES}-go", f"golang-{GO_SERIES}-src")
APISERVER_SOURCE_PACKAGE = "golang-k8s-apiextensions-apiserver-dev"
ETCD_PACKAGE = "etcd-server"
GO_IMPORT_PATH = "k8s.io/apiextensions-apiserver"
DEBIAN_KEYRING = pathlib.Path("/usr/share/keyrings/debian-archive-keyring.gpg")


@dataclass(frozen=True)
class StepTimeouts:
    """Seconds each step may take before it is killed; generous for slow mirrors."""

    update: float = 300.0
    depends: float = 120.0
    download: float = 1200.0
    unpack_one: float = 120.0
    build: float = 1800.0


class DebianBuildError(RuntimeError):
    """A build step failed or timed out; the message names the step and its log tail."""


def _tail(path: pathlib.Path, *, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _run(
    *,
    step: str,
    argv: Sequence[str],
    log_path: pathlib.Path,
    timeout: float,
    cwd: pathlib.Path | None = None,
    env: Mapping[str, str] | None = None,
) -> None:
    """Run one step with its output in a log file; raise DebianBuildError on any failure."""
    with log_path.open("ab") as log:
        log.write(f"$ {' '.join(argv)}\n".encode())
        log.flush()
        try:
            completed = subprocess.run(
                list(argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=cwd,
                env=None if env is None else dict(env),
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise DebianBuildError(
                f"{step} timed out after {timeout:.0f} s; log {log_path}:\n{_tail(log_path)}"
            ) from exc
        except OSError as exc:
            raise DebianBuildError(f"{step} could not start {argv[0]}: {exc}") from exc
    if completed.returncode != 0:
        raise DebianBuildError(
            f"{step} failed with exit code {completed.returncode}; log {log_path}:\n"
            f"{_tail(log_path)}"
        )


@dataclass(frozen=True)
class PrivateApt:
    """Options that give apt its own sources, lists and cache, and no installed packages."""

    root: pathlib.Path

    @property
    def options(self) -> list[str]:
        empty = self.root / "empty.d"
        settings = {
            "Dir::Etc::SourceList": self.root / "sources.list",
            "Dir::Etc::SourceParts": empty,
            "Dir::Etc::Preferences": self.root / "preferences",
            "Dir::Etc::PreferencesParts": empty,
            "Dir::State::Lists": self.root / "lists",
            "Dir::State::status": "/dev/null",
            "Dir::Cache": self.root / "cache",
            "Dir::Cache::archives": self.root / "cache" / "archives",
            "Acquire::Languages": "none",
            "Debug::NoLocking": "1",
        }
        return [arg for key, value in settings.items() for arg in ("-o", f"{key}={value}")]

    def prepare(self, *, mirror: str) -> None:
        for directory in ("empty.d", "lists/partial", "cache/archives/partial"):
            (self.root / directory).mkdir(parents=True, exist_ok=True)
        signed_by = f" [signed-by={DEBIAN_KEYRING}]" if DEBIAN_KEYRING.is_file() else ""
        (self.root / "sources.list").write_text(f"deb{signed_by} {mirror} {SUITE} main\n")
        (self.root / "preferences").write_text("")


def parse_golang_closure(depends_output: str) -> list[str]:
    """Pick the real ``golang-*`` packages out of ``apt-cache depends --recurse`` output.

    Top-level lines (no indentation) are the packages of the closure; names in
    angle brackets are virtual and have a real provider listed on its own line.
    """
    names: list[str] = []
    for line in depends_output.splitlines():
        if not line or line[0].isspace() or line.startswith("<"):
            continue
        name = line.strip()
        if name.startswith("golang-") and name not in names:
            names.append(name)
    return names


def _fix_absolute_symlinks(prefix: pathlib.Path) -> None:
    """Point absolute symlinks (``/usr/...``) into the prefix, where their targets were unpacked."""
    for dirpath, dirnames, filenames in os.walk(prefix):
        for name in (*dirnames, *filenames):
            link = pathlib.Path(dirpath) / name
            if not link.is_symlink():
                continue
            target = str(link.readlink())
            if target.startswith("/") and (prefix / target.lstrip("/")).exists():
                link.unlink()
                link.symlink_to(prefix / target.lstrip("/"))


def system_debian_mirror(sources: Sequence[pathlib.Path] = APT_SOURCES) -> str:
    """The Debian archive URI of this machine's apt sources (one-line or deb822 format)."""
    files: list[pathlib.Path] = []
    for source in sources:
        if source.is_dir():
            files += sorted(source.glob("*.list")) + sorted(source.glob("*.sources"))
        elif source.is_file():
            files.append(source)
    for path in files:
        for line in path.read_text(errors="replace").splitlines():
            words = line.split()
            if words[:1] == ["URIs:"]:
                uris = words[1:]
            elif words[:1] == ["deb"]:
                uris = [word for word in words[1:] if "://" in word][:1]
            else:
                continue
            for uri in uris:
                if uri.rstrip("/").endswith("/debian"):
                    return uri.rstrip("/")
    raise DebianBuildError(
        f"no Debian archive in this machine's apt sources; set {ENV_DEBIAN_MIRROR}"
    )


def build_from_debian(
    *, work_dir: pathlib.Path, mirror: str | None = None, timeouts: StepTimeouts | None = None
) -> pathlib.Path:
    """Build both binaries under ``work_dir``; return the directory that holds them."""
    timeouts = timeouts or StepTimeouts()
    mirror = mirror or os.environ.get(ENV_DEBIAN_MIRROR) or system_debian_mirror()
    for tool in ("apt-get", "apt-cache", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise DebianBuildError(f"{tool} is not installed; the Debian build needs apt and dpkg")
    log_path = work_dir / "build.log"
    apt = PrivateApt(root=work_dir / "apt")
    apt.prepare(mirror=mirror)
    logger.info("Debian build: apt-get update from %s %s (log %s)", mirror, SUITE, log_path)
    _run(
        step="apt-get update",
        argv=["apt-get", *apt.options, "update"],
        log_path=log_path,
        timeout=timeouts.update,
    )

    depends_log = work_dir / "depends.txt"
    with depends_log.open("wb") as out:
        try:
            subprocess.run(
                [
                    "apt-cache",
                    *apt.options,
                    "depends",
                    "--recurse",
                    "--no-recommends",
                    "--no-suggests",
                    "--no-conflicts",
                    "--no-breaks",
                    "--no-replaces",
                    "--no-enhances",
                    APISERVER_SOURCE_PACKAGE,
                ],
                stdout=out,
                stderr=subprocess.DEVNULL,
                stdin=subprocess.DEVNULL,
                timeout=timeouts.depends,
                check=True,
            )
        except (subprocess.SubprocessError, OSError) as exc:
            raise DebianBuildError(f"apt-cache depends failed: {exc}") from exc
    closure = parse_golang_closure(depends_log.read_text())
    if APISERVER_SOURCE_PACKAGE not in closure:
        raise DebianBuildError(f"{APISERVER_SOURCE_PACKAGE} is not in Debian {SUITE} right now")
    packages = list(dict.fromkeys([*TOOLCHAIN_PACKAGES, *closure, ETCD_PACKAGE]))

    debs = work_dir / "debs"
    debs.mkdir(exist_ok=True)
    logger.info("Debian build: downloading %d packages", len(packages))
    _run(
        step="apt-get download",
        argv=["apt-get", *apt.options, "download", *packages],
        log_path=log_path,
        timeout=timeouts.download,
        cwd=debs,
    )

    prefix = work_dir / "prefix"
    prefix.mkdir(exist_ok=True)
    logger.info("Debian build: unpacking into %s", prefix)
    for deb in sorted(debs.glob("*.deb")):
        _run(
            step=f"dpkg-deb -x {deb.name}",
            argv=["dpkg-deb", "-x", str(deb), str(prefix)],
            log_path=log_path,
            timeout=timeouts.unpack_one,
        )
    _fix_absolute_symlinks(prefix)

    out_dir = work_dir / "out"
    out_dir.mkdir(exist_ok=True)
    goroot = prefix / "usr" / "lib" / f"go-{GO_SERIES}"
    go_env = {
        "PATH": f"{goroot / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(work_dir),
        "GOROOT": str(goroot),
        "GOPATH": str(prefix / "usr" / "share" / "gocode"),
        "GO111MODULE": "off",
        "GOTOOLCHAIN": "local",
        "GOCACHE": str(work_dir / "gocache"),
        "GOFLAGS": "",
    }
    logger.info("Debian build: go build %s (2.5 to 3 minutes)", GO_IMPORT_PATH)
    _run(
        step="go build",
        argv=[
            str(goroot / "bin" / "go"),
            "build",
            "-trimpath",
            "-ldflags",
            "-s -w",
            "-o",
            str(out_dir / "apiextensions-apiserver"),
            GO_IMPORT_PATH,
        ],
        log_path=log_path,
        timeout=timeouts.build,
        env=go_env,
        cwd=work_dir,
    )
    etcd = prefix / "usr" / "bin" / "etcd"
    if not etcd.is_file():
        raise DebianBuildError(f"{ETCD_PACKAGE} did not contain usr/bin/etcd")
    shutil.copy2(etcd, out_dir / "etcd")
    return out_dir
