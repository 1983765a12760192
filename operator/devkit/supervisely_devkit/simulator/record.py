"""The call record: every API call the simulator answered, for tests to assert on.

A record holds what the client sent (method, path, query, JSON body), what it got (status, or
none for a dropped connection) and whether its token was valid, never the token itself: any
string that contains the token is redacted before it is stored or written to ``--record``.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ConfigDict

REDACTED = "<redacted>"


class CallRecord(BaseModel):
    """One API call as the simulator saw and answered it."""

    model_config = ConfigDict(frozen=True)

    seq: int
    timestamp: str
    method: str
    http_method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int | None
    token_valid: bool
    fault: str | None = None
    workspace_id: int | None = None
    """The workspace the call concerns, when the call says: the ``workspaceId`` it names, or
    the workspace of the task it names. Lets tests that share one simulator read their own."""


def redact(value: Any, *, secret: str) -> Any:
    """A copy of a JSON value with every occurrence of ``secret`` replaced."""
    if isinstance(value, str):
        return value.replace(secret, REDACTED) if secret else value
    if isinstance(value, dict):
        return {
            redact(key, secret=secret): redact(item, secret=secret) for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item, secret=secret) for item in value]
    return value


class CallRecorder:
    """Keeps the records in memory and, optionally, appends them as JSON lines to a file."""

    def __init__(self, *, path: Path | None = None) -> None:
        self._records: list[CallRecord] = []
        # Kept beside the records so a benchmark can read counts of 100k+ calls cheaply.
        self._counts: Counter[str] = Counter()
        self._seq = 0
        self._path = path
        self._file: IO[str] | None = None

    def open(self) -> None:
        """Start appending to the record file, if there is one."""
        if self._path is not None and self._file is None:
            self._file = self._path.open("a", encoding="utf-8")

    def close(self) -> None:
        """Stop appending to the record file."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def next_seq(self) -> int:
        """A sequence number for the next record (calls are numbered as they arrive)."""
        self._seq += 1
        return self._seq

    def add(self, record: CallRecord) -> None:
        """Store a record (and write it out)."""
        self._records.append(record)
        self._counts[record.method] += 1
        if self._file is not None:
            self._file.write(json.dumps(record.model_dump(mode="json")) + "\n")
            self._file.flush()

    def calls(
        self, *, method: str | None = None, workspace_id: int | None = None
    ) -> list[CallRecord]:
        """Records in arrival order, optionally only those of one API method or workspace."""
        ordered = sorted(self._records, key=lambda record: record.seq)
        return [
            r
            for r in ordered
            if (method is None or r.method == method)
            and (workspace_id is None or r.workspace_id == workspace_id)
        ]

    def counts(self) -> dict[str, int]:
        """How many calls of each API method are on record, by method name."""
        return dict(sorted(self._counts.items()))

    def clear(self) -> None:
        """Forget every record and count (the file is left as it is)."""
        self._records.clear()
        self._counts.clear()
