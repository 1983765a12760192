"""The README's demo runs end to end and every example reaches its expected phase."""

import re
import subprocess
import sys


def test_demo_runs_the_main_job_and_cleans_up() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "supervisely_operator", "demo", "--timeout", "120"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert "Demo succeeded" in output
    for name, phase in [
        ("train-finishes", "Succeeded"),
        ("train-gpu-limits", "Succeeded"),
        ("train-fails", "Failed"),
        ("train-out-of-memory", "Failed"),
        ("serve-model", "Running"),
    ]:
        assert f"{name}: {phase}" in output
    # Backoff restarts twice; the out-of-memory failure rule fails at once.
    assert re.search(r"train-fails: Failed \(task \d+, restarts 2\)", output)
    assert re.search(r"train-out-of-memory: Failed \(task \d+, restarts 0\)", output)
    assert "Cleaning up" in output
