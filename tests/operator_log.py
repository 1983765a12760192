"""Unexpected errors in the operator's log fail the test that caused them.

A handler exception that kopf caught and retried leaves only an ERROR line and a traceback:
the test may still pass on the retry. Every e2e and integration test therefore reads the log it
produced (log files through ``supervisely_devkit.demo.process.log_errors``, in-process records
through :func:`record_errors`), and an ERROR line or a traceback the test did not declare with
``@pytest.mark.expected_log_errors(pattern, ...)`` fails it.
"""

import logging
import re
from collections.abc import Iterable, Sequence

import pytest

MARKER = "expected_log_errors"


def expected_patterns(item: pytest.Item) -> list[re.Pattern[str]]:
    """The patterns a test declared for the errors it causes on purpose."""
    return [re.compile(pattern) for marker in item.iter_markers(MARKER) for pattern in marker.args]


def record_errors(records: Iterable[logging.LogRecord]) -> list[str]:
    """The ERROR records of an in-process operator, each with its traceback."""
    formatter = logging.Formatter("[%(levelname)s] %(name)s: %(message)s")
    return [formatter.format(record) for record in records if record.levelno >= logging.ERROR]


def fail_on_unexpected(entries: Sequence[str], item: pytest.Item, *, where: str) -> None:
    """Fail ``item`` when its log holds an error it did not declare."""
    expected = expected_patterns(item)
    unexpected = [e for e in entries if not any(pattern.search(e) for pattern in expected)]
    if unexpected:
        shown = "\n---\n".join(entry[:2000] for entry in unexpected[:5])
        pytest.fail(
            f"{len(unexpected)} unexpected error(s) in {where} "
            f"(declare deliberate ones with @pytest.mark.{MARKER}):\n{shown}",
            pytrace=False,
        )
