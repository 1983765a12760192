"""The pure core reads no clock: the time is an argument (``Situation.now``, ``now=``).

import-linter keeps ``time``, ``random``, ``secrets``, ``uuid`` and ``os`` out of
``reconcile/`` (pyproject.toml); ``datetime`` it must import for its types, so this test
looks for the calls that would read the clock through it.
"""

import ast
from pathlib import Path

import pytest

from supervisely_operator import reconcile

CORE = Path(reconcile.__file__).parent
CLOCK_READS = {"now", "utcnow", "today", "time", "monotonic", "perf_counter"}


def clock_reads(source: str) -> list[str]:
    """Calls like ``datetime.now()`` or ``now()`` in ``source``, as ``line: call``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name in CLOCK_READS:
            found.append(f"{node.lineno}: {ast.unparse(func)}()")
    return found


@pytest.mark.parametrize("module", sorted(CORE.glob("*.py")), ids=lambda path: path.name)
def test_the_core_reads_no_clock(module: Path) -> None:
    assert clock_reads(module.read_text()) == []


def test_a_clock_read_would_be_found() -> None:
    assert clock_reads("from datetime import datetime\nat = datetime.now()\n") == [
        "2: datetime.now()"
    ]
