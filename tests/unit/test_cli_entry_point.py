"""``supervisely-operator run`` loads the operator and nothing of the test tooling.

import-linter checks the static imports; this checks what a real process has imported after
the command line was parsed, which also catches a lazy import that slipped in. The tooling's
subcommands come from supervisely-operator-devkit's entry points, loaded on demand; without
the devkit (as in the image) asking for one says how to install it.
"""

import subprocess
import sys
from importlib.metadata import EntryPoint, EntryPoints

import pytest
from click.testing import CliRunner

from supervisely_operator import cli

PROBE = """
import sys
from click.testing import CliRunner
from supervisely_operator.cli import main
import supervisely_operator.controller.runner
result = CliRunner().invoke(main, ["run", "--help"])
assert result.exit_code == 0, result.output
print("\\n".join(sorted(name for name in sys.modules if name.startswith("supervisely_"))))
"""


def loaded_by(code: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return set(done.stdout.split())


def test_run_imports_neither_the_simulator_nor_the_dev_cluster_nor_the_demo() -> None:
    loaded = loaded_by(PROBE)

    assert "supervisely_operator.controller.handlers" in loaded
    assert {name for name in loaded if name.startswith("supervisely_devkit")} == set()


def test_the_tooling_subcommands_still_load_on_demand() -> None:
    loaded = loaded_by(PROBE.replace('["run", "--help"]', '["simulator", "--help"]'))

    assert "supervisely_devkit.simulator.cli" in loaded
    assert {name for name in loaded if name.startswith("supervisely_devkit.demo")} == set()


def test_the_devkits_entry_points_are_the_tooling_subcommands() -> None:
    result = CliRunner().invoke(cli.main, ["--help"])

    assert result.exit_code == 0, result.output
    for command in ["simulator", "devcluster", "demo", "run", "crds"]:
        assert f"\n  {command} " in result.output
    registered = {ep.name: ep.dist for ep in cli.entry_points(group=cli.COMMANDS_GROUP)}
    assert registered.keys() == cli.DEVKIT_INSTALL.keys()
    assert {dist.name for dist in registered.values() if dist} == {cli.DEVKIT}


def registering(monkeypatch: pytest.MonkeyPatch, *entry_points: EntryPoint) -> None:
    """Make the CLI see exactly these entry points in its group."""
    monkeypatch.setattr(cli, "entry_points", lambda group: EntryPoints(entry_points))


@pytest.mark.parametrize("args", [["demo"], ["demo", "--keep"], ["devcluster", "up", "--help"]])
def test_without_the_devkit_a_tooling_command_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    registering(monkeypatch)

    result = CliRunner().invoke(cli.main, args)

    assert result.exit_code == 1, result.output
    install = cli.DEVKIT_INSTALL[args[0]]
    assert "comes with supervisely-operator-devkit, which is not installed" in result.output
    assert f"pip install '{install}'" in result.output
    listed = CliRunner().invoke(cli.main, ["--help"]).output
    assert f"\n  {args[0]} " not in listed


def test_a_command_whose_dependency_is_missing_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    missing = "no_such_module_for_this_test"
    registering(monkeypatch, EntryPoint("devcluster", f"{missing}:group", cli.COMMANDS_GROUP))

    result = CliRunner().invoke(cli.main, ["devcluster", "up"])

    assert result.exit_code == 1, result.output
    assert f"`supervisely-operator devcluster` needs {missing}, which is not installed" in (
        result.output
    )
    listed = CliRunner().invoke(cli.main, ["--help"])
    assert listed.exit_code == 0, listed.output
    assert "\n  devcluster " in listed.output


def test_an_unknown_command_is_still_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    registering(monkeypatch)

    result = CliRunner().invoke(cli.main, ["simulate"])

    assert result.exit_code == 2
    assert "No such command 'simulate'" in result.output
