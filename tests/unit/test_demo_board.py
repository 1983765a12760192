"""The demo's table stays one line per resource and readable at any terminal width."""

import pytest
from rich.console import Console

from supervisely_devkit.demo.board import MESSAGE_MIN_WIDTH, Row, render

LONG = (
    "Agent 2 is not running (status 'waiting'); the task starts when it is, and this sentence "
    "goes on well past any column"
)


def rows() -> list[Row]:
    return [
        Row("serve-model", "Running", "7", 0, "started", "Running", "Task 7 is started"),
        Row("train-detector-long-name", "Pending", "-", 0, "-", "Succeeded", LONG),
    ]


def drawn(width: int) -> list[str]:
    console = Console(width=width, record=True, color_system=None)
    console.print(render(rows(), title="SuperviselyTasks in demo (12 s)", width=width))
    return console.export_text().splitlines()


@pytest.mark.parametrize("width", [80, 100, 200])
def test_each_resource_is_one_line_with_a_readable_message(width: int) -> None:
    lines = drawn(width)

    [serve] = [line for line in lines if "serve-model" in line]
    [train] = [line for line in lines if "train-detector" in line]
    assert "Task 7 is started" in serve
    assert all(len(line) <= width for line in lines)
    message = train[train.index("Agent 2") :].strip()
    assert message.startswith("Agent 2 is not running")
    assert len(message) >= MESSAGE_MIN_WIDTH - 2
    assert message.endswith("…") or width >= 200


def test_a_message_that_fits_is_shown_whole() -> None:
    [train] = [line for line in drawn(240) if "train-detector" in line]
    assert LONG[:80] in train
