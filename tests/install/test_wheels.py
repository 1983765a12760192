"""The two wheels as built: the operator's carries no test tooling, the devkit's runs alone.

Both are built as .ci/install-runtime builds the image's wheel (the hash-locked backend of
requirements-build.lock, ``pip wheel --no-deps --no-build-isolation``), from a copy of their
sources. The operator's wheel must hold its package and nothing of the simulator, dev cluster
or demo, and require none of their dependencies. The devkit's wheel goes into a venv without
the operator, beside its base dependencies only (pinned and hash-checked by requirements.lock,
no resolver), and its simulator must serve a call there: that is the install the README offers
to users who want the simulator alone in their own CI.
"""

from __future__ import annotations

import email.parser
import importlib.metadata
import os
import re
import select
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import httpx
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from image_build import REPO

pytestmark = pytest.mark.install

BASE_PYTHON = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
DEVKIT_DIR = REPO / "operator" / "devkit"
OPERATOR = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
DEVKIT = tomllib.loads((DEVKIT_DIR / "pyproject.toml").read_text(encoding="utf-8"))["project"]
TOOLING = {"simulator", "devcluster", "demo", "supervisely_devkit"}
TOOLING_ONLY_DEPENDENCIES = {"cryptography", "rich"}
TOKEN = "devkit-wheel-test-token"


@dataclass(frozen=True)
class Wheel:
    path: Path

    def names(self) -> list[str]:
        with zipfile.ZipFile(self.path) as archive:
            return archive.namelist()

    def read(self, suffix: str) -> str:
        """The one dist-info file whose name ends with ``suffix``."""
        with zipfile.ZipFile(self.path) as archive:
            (name,) = (n for n in archive.namelist() if n.endswith(f".dist-info/{suffix}"))
            return archive.read(name).decode()

    def requirements(self) -> list[Requirement]:
        metadata = email.parser.Parser().parsestr(self.read("METADATA"))
        return [Requirement(line) for line in metadata.get_all("Requires-Dist") or []]

    def entry_points(self) -> dict[str, set[str]]:
        """``{group: {name, ...}}`` from entry_points.txt."""
        groups: dict[str, set[str]] = {}
        group = ""
        for line in self.read("entry_points.txt").splitlines():
            if line.startswith("["):
                group = line.strip("[]")
                groups[group] = set()
            elif "=" in line:
                groups[group].add(line.split("=")[0].strip())
        return groups


def clean_env() -> dict[str, str]:
    drop = {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "API_TOKEN"}
    return {key: value for key, value in os.environ.items() if key not in drop}


def pip(python: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """pip of the base interpreter, acting on ``python``'s environment (as install-runtime)."""
    command = [BASE_PYTHON, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    result = subprocess.run(
        [*command, "--python", str(python), *args],
        capture_output=True,
        text=True,
        env=env or clean_env(),
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, f"pip {' '.join(args)}\n{result.stdout[-3000:]}{result.stderr}"
    return result.stdout


@dataclass(frozen=True)
class WheelBuilder:
    """Builds wheels from copies of sources in ``root`` with the backend installed there."""

    root: Path
    backend: Path

    def build(self, name: str, sources: Iterable[str], project: str = ".") -> Wheel:
        tree = self.root / name
        for source in sources:
            if (REPO / source).is_dir():
                ignore = shutil.ignore_patterns("__pycache__")
                shutil.copytree(REPO / source, tree / source, ignore=ignore)
            else:
                (tree / source).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / source, tree / source)
        env = clean_env()
        # uv_build's hooks run the uv-build binary from PATH, where build isolation would put it.
        env["PATH"] = f"{self.backend / 'bin'}:{env['PATH']}"
        dist = self.root / f"{name}-dist"
        pip(self.backend / "bin" / "python", "wheel", "--no-deps", "--no-build-isolation",
            "--wheel-dir", str(dist), str(tree / project), env=env)  # fmt: skip
        (built,) = dist.glob("*.whl")
        return Wheel(built)


@pytest.fixture(scope="module")
def builder(tmp_path_factory: pytest.TempPathFactory) -> WheelBuilder:
    root = tmp_path_factory.mktemp("wheels")
    backend = root / "backend"
    subprocess.run([BASE_PYTHON, "-m", "venv", "--without-pip", backend], check=True)
    pip(backend / "bin" / "python", "install", "--require-hashes", "--only-binary=:all:",
        "-r", str(REPO / "requirements-build.lock"))  # fmt: skip
    return WheelBuilder(root, backend)


@pytest.fixture(scope="module")
def operator_wheel(builder: WheelBuilder) -> Wheel:
    """From the whole operator/ directory, devkit included: the build must leave it out."""
    return builder.build("operator", ["pyproject.toml", "README.md", "operator"])


@pytest.fixture(scope="module")
def devkit_wheel(builder: WheelBuilder) -> Wheel:
    return builder.build("devkit", ["operator/devkit"], project="operator/devkit")


def test_the_operator_wheel_holds_its_package_and_no_tooling(operator_wheel: Wheel) -> None:
    names = operator_wheel.names()
    tops = {PurePosixPath(name).parts[0] for name in names}
    assert tops == {"supervisely_operator", "supervisely_operator-0.1.0.dist-info"}
    assert [n for n in names if TOOLING & set(PurePosixPath(n).parts)] == []
    root = REPO / "operator"
    sources = {p.relative_to(root).as_posix() for p in root.glob("supervisely_operator/**/*.py")}
    assert {n for n in names if n.endswith(".py")} == sources


def test_the_operator_wheel_requires_none_of_the_toolings_dependencies(
    operator_wheel: Wheel,
) -> None:
    requirements = operator_wheel.requirements()
    runtime = [r for r in requirements if r.marker is None]
    assert {str(r) for r in runtime} == {str(Requirement(d)) for d in OPERATOR["dependencies"]}
    names = {canonicalize_name(r.name) for r in requirements}
    assert names & {*TOOLING_ONLY_DEPENDENCIES, canonicalize_name(DEVKIT["name"])} == set()
    assert operator_wheel.entry_points() == {
        "console_scripts": {"supervisely-operator", "kubectl-slytask"}
    }


def test_the_devkit_wheel_holds_the_tooling_and_no_operator(devkit_wheel: Wheel) -> None:
    names = devkit_wheel.names()
    tops = {PurePosixPath(name).parts[0] for name in names}
    assert tops == {"supervisely_devkit", "supervisely_operator_devkit-0.1.0.dist-info"}
    for package in ["simulator", "devcluster", "demo"]:
        assert f"supervisely_devkit/{package}/__init__.py" in names
    assert {canonicalize_name(r.name) for r in devkit_wheel.requirements()}.isdisjoint(
        {canonicalize_name(OPERATOR["name"])}
    )
    assert devkit_wheel.entry_points() == {
        "console_scripts": {"supervisely-simulator"},
        "supervisely_operator.commands": {"simulator", "devcluster", "demo"},
    }


def closure(requirements: Iterable[str]) -> set[str]:
    """The distributions these requirements pull in (extras and markers honoured), from the
    metadata of the dev venv this test runs in, which requirements.lock pinned."""
    todo = [Requirement(r) for r in requirements]
    found: set[str] = set()
    while todo:
        requirement = todo.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(requirement.name)
        if name in found:
            continue
        found.add(name)
        extras = {"", *requirement.extras}
        for line in importlib.metadata.requires(requirement.name) or []:
            nested = Requirement(line)
            marker = nested.marker
            if marker is None or any(marker.evaluate({"extra": e}) for e in extras):
                nested.marker = None
                todo.append(nested)
    return found


def lock_entries(names: set[str]) -> str:
    """These distributions' entries of requirements.lock, hashes included: a requirements file."""
    text = (REPO / "requirements.lock").read_text(encoding="utf-8")
    entries = re.split(r"^(?=[A-Za-z0-9])", text, flags=re.MULTILINE)
    chosen = [e for e in entries if e and canonicalize_name(e.split("==")[0]) in names]
    assert {canonicalize_name(e.split("==")[0]) for e in chosen} == names, "not all locked"
    return "".join(chosen)


@pytest.fixture(scope="module")
def devkit_alone(devkit_wheel: Wheel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with the devkit's wheel and its base dependencies only: no extras, no operator."""
    root = tmp_path_factory.mktemp("devkit-alone")
    venv = root / "venv"
    subprocess.run([BASE_PYTHON, "-m", "venv", "--without-pip", venv], check=True)
    python = venv / "bin" / "python"
    lock = root / "requirements.txt"
    lock.write_text(lock_entries(closure(DEVKIT["dependencies"])), encoding="utf-8")
    # uv, as .ci/bootstrap runs (and installs) it: pip takes ~10 s of CPU for this install.
    uv = ["python3", "-m", "uv", "pip"]
    for args in [
        ["install", "--require-hashes", "--only-binary=:all:", "--no-deps", "-r", str(lock)],
        ["install", "--no-deps", str(devkit_wheel.path)],
        ["check"],
    ]:
        done = subprocess.run(
            [*uv, *args, "--python", str(python)],
            capture_output=True,
            text=True,
            env=clean_env(),
            timeout=240,
            check=False,
        )
        assert done.returncode == 0, f"uv pip {' '.join(args)}\n{done.stdout}{done.stderr}"
    return venv


def test_the_devkit_installs_without_the_operator_or_its_extras(devkit_alone: Path) -> None:
    python = devkit_alone / "bin" / "python"
    probe = (
        "import importlib.metadata as m, importlib.util as u\n"
        "print(*sorted(d.metadata['Name'] for d in m.distributions()))\n"
        "print(u.find_spec('supervisely_operator'), u.find_spec('cryptography'))\n"
    )
    done = subprocess.run(
        [python, "-c", probe], capture_output=True, text=True, env=clean_env(), check=True
    )
    installed, specs = done.stdout.splitlines()
    assert canonicalize_name(DEVKIT["name"]) in {canonicalize_name(n) for n in installed.split()}
    assert canonicalize_name(OPERATOR["name"]) not in {
        canonicalize_name(n) for n in installed.split()
    }
    assert specs == "None None"


def test_the_simulator_alone_answers_help_and_serves_a_call(devkit_alone: Path) -> None:
    """The README's install for users' own CI: the console script, then one API call."""
    script = devkit_alone / "bin" / "supervisely-simulator"
    helped = subprocess.run(
        [script, "--help"], capture_output=True, text=True, env=clean_env(), check=False
    )
    assert helped.returncode == 0, helped.stderr
    assert "Usage: supervisely-simulator" in helped.stdout
    process = subprocess.Popen(
        [script, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**clean_env(), "API_TOKEN": TOKEN},
    )
    try:
        assert process.stdout is not None
        readable, _, _ = select.select([process.stdout], [], [], 30)
        assert readable, "the simulator printed nothing in time"
        line = process.stdout.readline()
        match = re.match(r"Supervisely simulator listening on (http://\S+)$", line)
        assert match, line
        answer = httpx.post(
            f"{match.group(1)}/public/api/v3/instance.version",
            json={},
            headers={"x-api-key": TOKEN},
            timeout=10,
        )
        assert answer.status_code == 200
        assert "version" in answer.json()
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
