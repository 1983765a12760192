"""``supervisely-operator run`` loads the operator and nothing of the test tooling.

import-linter checks the static imports; this checks what a real process has imported after
the command line was parsed, which also catches a lazy import that slipped in.
"""

import subprocess
import sys

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
