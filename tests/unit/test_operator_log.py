"""The check that fails a test on an unexpected ERROR in the operator's log finds them all."""

import logging
import re

from operator_log import record_errors
from supervisely_devkit.demo.process import log_errors

KOPF_LOG = """\
[2026-12-03 11:26:34,696] kopf._core.reactor.r [DEBUG   ] Starting Kopf 1.45.2.
[2026-12-03 11:26:35,001] kopf.objects         [ERROR   ] [ml/train] Handler 'keep_in_sync' failed with an exception. Will retry.
Traceback (most recent call last):
  File "handlers.py", line 1, in keep_in_sync
ValueError: boom
[2026-12-03 11:26:35,002] kopf.objects         [INFO    ] [ml/train] Status patched
[2026-12-03 11:26:35,003] kopf.objects         [WARNING ] [ml/train] Unavailable: Supervisely is unavailable
Traceback (most recent call last):
  File "<crash>", line 2
RuntimeError: the process died
[2026-12-03 11:26:36,000] asyncio              [CRITICAL] Task was destroyed but it is pending!
"""  # noqa: E501


def test_each_error_record_comes_with_its_traceback_and_nothing_else() -> None:
    entries = log_errors(KOPF_LOG)

    assert len(entries) == 3
    assert entries[0].splitlines()[0].endswith("failed with an exception. Will retry.")
    assert entries[0].splitlines()[-1] == "ValueError: boom"
    assert entries[1].splitlines() == [
        "Traceback (most recent call last):",
        '  File "<crash>", line 2',
        "RuntimeError: the process died",
    ], "a traceback after a WARNING is a crash of its own"
    assert "[CRITICAL]" in entries[2]
    assert not any("Status patched" in entry for entry in entries)


def test_in_process_records_at_error_and_above_with_their_tracebacks() -> None:
    try:
        raise ValueError("boom")
    except ValueError as error:
        failed = logging.LogRecord(
            "kopf.objects",
            logging.ERROR,
            "h.py",
            1,
            "Handler failed",
            None,
            (ValueError, error, None),
        )
    warning = logging.LogRecord("kopf.objects", logging.WARNING, "h.py", 1, "slow", None, None)

    [entry] = record_errors([failed, warning])

    assert entry.startswith("[ERROR] kopf.objects: Handler failed")
    assert re.search(r"ValueError: boom$", entry)
