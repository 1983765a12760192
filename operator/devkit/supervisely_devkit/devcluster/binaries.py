"""Find the ``etcd`` and ``apiextensions-apiserver`` binaries, wherever they can come from.

No Kubernetes distribution can run or be downloaded here, so the local control plane
runs these two binaries. They can come from four places, tried in this order (the
cheapest first): a directory named by ``SUPERVISELY_OPERATOR_CONTROLPLANE_DIR``; the
per-user cache; the xz-compressed pair in ``shared/controlplane/`` beside the
repository (checked against its ``SHA256SUMS``, then stored into the cache); a build
from Debian sid's packages (see ``debian_build``), also stored into the cache. The
caller always learns which source was used, and a failure lists what was tried.
"""

import enum
import hashlib
import logging
import lzma
import os
import pathlib
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from supervisely_devkit.devcluster.debian_build import build_from_debian

logger = logging.getLogger(__name__)

ETCD = "etcd"
APISERVER = "apiextensions-apiserver"
BINARY_NAMES = (ETCD, APISERVER)

ENV_CONTROLPLANE_DIR = "SUPERVISELY_OPERATOR_CONTROLPLANE_DIR"
ENV_SHARED_DIR = "SUPERVISELY_OPERATOR_SHARED_DIR"
CHECKSUMS_FILE = "SHA256SUMS"
COMPRESSED_SUFFIX = ".xz"
_CHUNK = 1 << 20


class BinarySource(enum.Enum):
    """Where the binaries were found; printed so nobody has to guess."""

    ENV_DIR = "environment directory"
    CACHE = "per-user cache"
    SHARED = "shared/controlplane copy"
    DEBIAN_BUILD = "build from Debian packages"


@dataclass(frozen=True)
class ControlPlaneBinaries:
    """The two executables and the source they came from."""

    etcd: pathlib.Path
    apiserver: pathlib.Path
    source: BinarySource
    origin: pathlib.Path


@dataclass(frozen=True)
class Attempt:
    """One place that was looked at, and why it did not do."""

    source: BinarySource
    location: str
    outcome: str


class BinariesNotFoundError(RuntimeError):
    """No source gave both binaries; the message lists every place tried and why."""

    def __init__(self, attempts: Sequence[Attempt]) -> None:
        self.attempts = tuple(attempts)
        lines = [f"  - {a.source.value} ({a.location}): {a.outcome}" for a in self.attempts]
        super().__init__(
            f"could not find or make {ETCD} and {APISERVER}; tried:\n"
            + "\n".join(lines)
            + f"\nSet {ENV_CONTROLPLANE_DIR} to a directory holding both binaries, or "
            f"{ENV_SHARED_DIR} to a shared/ directory holding controlplane/*.xz."
        )


class ChecksumMismatchError(RuntimeError):
    """A decompressed binary does not match SHA256SUMS: refuse it rather than run it."""


Builder = Callable[[pathlib.Path], pathlib.Path]
"""Builds both binaries inside a fresh work directory (its argument); returns their directory."""


def _build_from_debian(work_dir: pathlib.Path) -> pathlib.Path:
    return build_from_debian(work_dir=work_dir)


def user_cache_dir(*, env: Mapping[str, str]) -> pathlib.Path:
    """The per-user cache, ``${XDG_CACHE_HOME:-~/.cache}/supervisely-operator/controlplane``."""
    base = env.get("XDG_CACHE_HOME") or str(pathlib.Path.home() / ".cache")
    return pathlib.Path(base) / "supervisely-operator" / "controlplane"


def _complete_dir(directory: pathlib.Path) -> str | None:
    """None when both binaries are executable files here, else what is wrong."""
    if not directory.is_dir():
        return "no such directory"
    missing = [
        name
        for name in BINARY_NAMES
        if not (directory / name).is_file() or not os.access(directory / name, os.X_OK)
    ]
    if missing:
        return f"no executable {', '.join(missing)}"
    return None


def _found(directory: pathlib.Path, source: BinarySource) -> ControlPlaneBinaries:
    return ControlPlaneBinaries(
        etcd=directory / ETCD, apiserver=directory / APISERVER, source=source, origin=directory
    )


def default_search_starts() -> list[pathlib.Path]:
    """Where to look for the repository: this package's location, then the cwd."""
    return [pathlib.Path(__file__).resolve().parent, pathlib.Path.cwd()]


def _repo_roots(*, starts: Sequence[pathlib.Path]) -> list[pathlib.Path]:
    """Every directory with a pyproject.toml above each start, nearest first, without repeats.

    Not just the nearest: this package's own project (operator/devkit/) lies inside the
    repository, and shared/ is beside the repository.
    """
    roots: list[pathlib.Path] = []
    for start in (s.resolve() for s in starts):
        for candidate in (start, *start.parents):
            if (candidate / "pyproject.toml").is_file() and candidate not in roots:
                roots.append(candidate)
    return roots


def shared_controlplane_candidates(
    *, env: Mapping[str, str], starts: Sequence[pathlib.Path]
) -> list[pathlib.Path]:
    """Where a ``shared/controlplane`` copy may lie, the explicit env var first."""
    candidates: list[pathlib.Path] = []
    explicit = env.get(ENV_SHARED_DIR)
    if explicit:
        shared = pathlib.Path(explicit)
        # Accept the shared/ directory itself or its controlplane/ subdirectory.
        candidates.append(
            shared if (shared / CHECKSUMS_FILE).is_file() else shared / "controlplane"
        )
    for root in _repo_roots(starts=starts):
        candidates.append(root.parent / "shared" / "controlplane")
    unique: list[pathlib.Path] = []
    for candidate in candidates:
        if candidate not in unique:
            unique.append(candidate)
    return unique


def read_checksums(path: pathlib.Path) -> dict[str, str]:
    """Parse a ``sha256sum`` output file into {file name: lowercase hex digest}."""
    checksums: dict[str, str] = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            checksums[parts[1].lstrip("*")] = parts[0].lower()
    return checksums


def _decompress_checked(
    *, source: pathlib.Path, dest_dir: pathlib.Path, expected: str
) -> pathlib.Path:
    """Decompress into a temp file beside the destination, verifying the digest on the way."""
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=dest_dir, prefix=".incoming-")
    tmp = pathlib.Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, lzma.open(source, "rb") as compressed:
            while chunk := compressed.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != expected:
            raise ChecksumMismatchError(
                f"checksum mismatch for {source}: SHA256SUMS says {expected}, "
                f"the decompressed file is {digest.hexdigest()}"
            )
        tmp.chmod(0o755)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def install_into_cache(*, files: Mapping[str, pathlib.Path], cache_dir: pathlib.Path) -> None:
    """Move finished files into the cache, each by an atomic rename, executable."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    for name, path in files.items():
        path.chmod(0o755)
        path.replace(cache_dir / name)


def extract_shared_copy(*, shared_dir: pathlib.Path, cache_dir: pathlib.Path) -> None:
    """Decompress both ``*.xz`` files, check them against SHA256SUMS, store them in the cache.

    Both are verified before either is renamed into place, so a bad pair never
    half-replaces a good cache.
    """
    checksums = read_checksums(shared_dir / CHECKSUMS_FILE)
    cache_dir.mkdir(parents=True, exist_ok=True)
    staged: dict[str, pathlib.Path] = {}
    try:
        for name in BINARY_NAMES:
            if name not in checksums:
                raise ChecksumMismatchError(f"{shared_dir / CHECKSUMS_FILE} has no line for {name}")
            staged[name] = _decompress_checked(
                source=shared_dir / f"{name}{COMPRESSED_SUFFIX}",
                dest_dir=cache_dir,
                expected=checksums[name],
            )
        install_into_cache(files=staged, cache_dir=cache_dir)
    finally:
        for path in staged.values():
            path.unlink(missing_ok=True)


def _shared_problem(directory: pathlib.Path) -> str | None:
    if not (directory / CHECKSUMS_FILE).is_file():
        return f"no {CHECKSUMS_FILE}"
    missing = [n for n in BINARY_NAMES if not (directory / f"{n}{COMPRESSED_SUFFIX}").is_file()]
    if missing:
        return "missing " + ", ".join(f"{n}{COMPRESSED_SUFFIX}" for n in missing)
    return None


def _try_shared(
    *, candidates: Iterable[pathlib.Path], cache_dir: pathlib.Path, attempts: list[Attempt]
) -> ControlPlaneBinaries | None:
    for candidate in candidates:
        problem = _shared_problem(candidate)
        if problem is None:
            logger.info("Decompressing the control plane from %s into %s", candidate, cache_dir)
            try:
                extract_shared_copy(shared_dir=candidate, cache_dir=cache_dir)
            except (ChecksumMismatchError, OSError, lzma.LZMAError) as exc:
                logger.warning("Rejected the shared copy in %s: %s", candidate, exc)
                problem = str(exc)
            else:
                return ControlPlaneBinaries(
                    etcd=cache_dir / ETCD,
                    apiserver=cache_dir / APISERVER,
                    source=BinarySource.SHARED,
                    origin=candidate,
                )
        attempts.append(Attempt(BinarySource.SHARED, str(candidate), problem))
    return None


def _try_build(
    *, builder: Builder, cache_dir: pathlib.Path, attempts: list[Attempt]
) -> ControlPlaneBinaries | None:
    logger.info("Building the control plane from Debian packages (takes about 5 minutes)")
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir.parent, prefix=".build-") as tmp:
        try:
            built = builder(pathlib.Path(tmp))
            install_into_cache(files={n: built / n for n in BINARY_NAMES}, cache_dir=cache_dir)
        except (RuntimeError, OSError) as exc:
            logger.warning("The build from Debian packages failed: %s", exc)
            attempts.append(Attempt(BinarySource.DEBIAN_BUILD, "Debian sid", str(exc)))
            return None
    return ControlPlaneBinaries(
        etcd=cache_dir / ETCD,
        apiserver=cache_dir / APISERVER,
        source=BinarySource.DEBIAN_BUILD,
        origin=cache_dir,
    )


def resolve_binaries(
    *,
    env: Mapping[str, str] | None = None,
    search_from: Sequence[pathlib.Path] | None = None,
    allow_build: bool = True,
    builder: Builder | None = None,
) -> ControlPlaneBinaries:
    """Return both binaries from the first source that has them; log which one it was.

    Raises BinariesNotFoundError listing every attempt when none works. ``env``,
    ``search_from`` (where to look for the repository, whose sibling ``shared/``
    holds the compressed copy) and ``builder`` exist so tests can point everything at temp dirs.
    """
    env = os.environ if env is None else env
    starts = default_search_starts() if search_from is None else search_from
    attempts: list[Attempt] = []
    cache_dir = user_cache_dir(env=env)

    explicit = env.get(ENV_CONTROLPLANE_DIR)
    if explicit:
        directory = pathlib.Path(explicit)
        problem = _complete_dir(directory)
        if problem is None:
            return _announce(_found(directory, BinarySource.ENV_DIR))
        logger.warning(
            "%s=%s is unusable (%s); trying the next source",
            ENV_CONTROLPLANE_DIR,
            explicit,
            problem,
        )
        attempts.append(Attempt(BinarySource.ENV_DIR, str(directory), problem))
    else:
        attempts.append(Attempt(BinarySource.ENV_DIR, ENV_CONTROLPLANE_DIR, "not set"))

    problem = _complete_dir(cache_dir)
    if problem is None:
        return _announce(_found(cache_dir, BinarySource.CACHE))
    attempts.append(Attempt(BinarySource.CACHE, str(cache_dir), problem))

    candidates = shared_controlplane_candidates(env=env, starts=starts)
    found = _try_shared(candidates=candidates, cache_dir=cache_dir, attempts=attempts)
    if found is not None:
        return _announce(found)

    if allow_build:
        found = _try_build(
            builder=builder or _build_from_debian, cache_dir=cache_dir, attempts=attempts
        )
        if found is not None:
            return _announce(found)
    else:
        attempts.append(Attempt(BinarySource.DEBIAN_BUILD, "Debian sid", "not allowed here"))
    raise BinariesNotFoundError(attempts)


def _announce(found: ControlPlaneBinaries) -> ControlPlaneBinaries:
    logger.info(
        "Control plane binaries from the %s (%s): %s, %s",
        found.source.value,
        found.origin,
        found.etcd,
        found.apiserver,
    )
    return found
