"""The simulator as a subprocess: ready line, real port, scenario/record flags, clean SIGTERM."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from supervisely_devkit.simulator.cli import simulator_command

TOKEN = "cli-test-token-not-printed"
READY = re.compile(r"^Supervisely simulator listening on (http://127\.0\.0\.1:(\d+))$")


def spawn(*args: str, token: str | None = TOKEN) -> subprocess.Popen[str]:
    env = {key: value for key, value in os.environ.items() if key != "API_TOKEN"}
    if token is not None:
        env["API_TOKEN"] = token
    return subprocess.Popen(
        [sys.executable, "-m", "supervisely_devkit.simulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def ready_url(process: subprocess.Popen[str], *, timeout: float = 20) -> str:
    """Wait for the one ready line and return the URL it names."""
    assert process.stdout is not None
    readable, _, _ = select.select([process.stdout], [], [], timeout)
    assert readable, "the simulator printed nothing in time"
    line = process.stdout.readline().rstrip("\n")
    match = READY.match(line)
    assert match, f"unexpected first line: {line!r}"
    assert int(match.group(2)) > 0, "--port 0 must print the real port"
    return match.group(1)


def finish(process: subprocess.Popen[str], signum: int) -> tuple[int, str]:
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=20)
    return process.returncode, stderr


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, Path]]:
    record = tmp_path / "calls.jsonl"
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("page_size: 2\ninstance_version: 6.99.1\n")
    process = spawn("--scenario", str(scenario), "--record", str(record))
    try:
        yield process, ready_url(process), record
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=20)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serves_and_stops_cleanly_on_signal(
    running: tuple[subprocess.Popen[str], str, Path], signum: int
) -> None:
    process, url, record = running
    with httpx.Client(base_url=f"{url}/public/api/v3/", headers={"x-api-key": TOKEN}) as client:
        assert client.post("instance.version", json={}).json() == {"version": "6.99.1"}
        assert client.post("teams.list", json={}).json()["perPage"] == 2
    began = time.monotonic()
    returncode, stderr = finish(process, signum)
    assert returncode == 0
    assert time.monotonic() - began < 10
    assert "Supervisely simulator stopped" in stderr
    assert "instance.version -> 200" in stderr, "each call is logged"
    assert TOKEN not in stderr
    methods = [json.loads(line)["method"] for line in record.read_text().splitlines()]
    assert methods == ["instance.version", "teams.list"]


def test_stops_promptly_with_a_call_held_by_a_delay_fault(
    running: tuple[subprocess.Popen[str], str, Path],
) -> None:
    process, url, _ = running
    headers = {"x-api-key": TOKEN}
    with httpx.Client(base_url=url, headers=headers) as client:
        armed = client.post("/_sim/faults", json={"method": "tasks.info", "delay": 60})
        assert armed.status_code == 200
        with pytest.raises(httpx.ReadTimeout):
            client.post("/public/api/v3/tasks.info", json={"id": 1}, timeout=0.3)
    began = time.monotonic()
    returncode, _ = finish(process, signal.SIGTERM)
    assert returncode == 0
    assert time.monotonic() - began < 10


def test_missing_token_is_a_usage_error() -> None:
    process = spawn(token=None)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 2
    assert "--token" in stderr


def test_invalid_scenario_is_a_usage_error(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("durations: {queued: -5}")
    process = spawn("--scenario", str(scenario))
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 2
    assert "bad.yaml" in stderr
    assert "queued" in stderr


def test_command_object_is_a_click_command_named_simulator() -> None:
    assert simulator_command.name == "simulator"
    options = {param.name for param in simulator_command.params}
    assert {"host", "port", "token", "scenario_path", "record_path"} <= options
