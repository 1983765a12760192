"""Child processes of the local control plane that can always be stopped.

Each server runs in its own process group (so a Ctrl-C in the terminal reaches
only us, and we stop the whole group), logs into a file (so a failed start can
show why), and, where util-linux ``setpriv`` exists, carries a parent-death
signal so a hard kill of the Python process (SIGKILL, OOM) does not leave etcd
or the API server running. The parent-death signal fires when the *thread* that
started the process ends, so start clusters from a thread that outlives them
(the main thread, in practice).
"""

import contextlib
import logging
import os
import pathlib
import shutil
import signal
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass

logger = logging.getLogger(__name__)

TERMINATE_GRACE_SECONDS = 5.0
KILL_WAIT_SECONDS = 5.0


def _with_parent_death_signal(argv: Sequence[str]) -> list[str]:
    """Kill the server when the process that started it dies, even by SIGKILL. Linux sends
    that signal when the starting *thread* exits, so only the main thread asks for it: a
    server restarted from a worker thread (``asyncio.to_thread``) died with the thread pool at
    the end of its event loop. A server started elsewhere is stopped by ``DevCluster.stop``."""
    if threading.current_thread() is not threading.main_thread():
        return list(argv)
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return list(argv)
    return [setpriv, "--pdeathsig", "KILL", "--", *argv]


def tail_of(path: pathlib.Path, *, lines: int = 30) -> str:
    """The last lines of a log file, for error messages; never raises."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log written)"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


@dataclass(frozen=True)
class ManagedProcess:
    """A started server: its name for messages, the process, and where it logs."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: pathlib.Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def is_running(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, *, lines: int = 30) -> str:
        return tail_of(self.log_path, lines=lines)

    def stop(self, *, grace: float = TERMINATE_GRACE_SECONDS) -> None:
        """SIGTERM the whole group, SIGKILL it after the grace period, and reap the leader."""
        if self.popen.poll() is not None:
            return
        self._signal_group(signal.SIGTERM)
        try:
            self.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            logger.warning(
                "%s (pid %d) ignored SIGTERM for %.0f s; killing it", self.name, self.pid, grace
            )
            self._signal_group(signal.SIGKILL)
            try:
                self.popen.wait(timeout=KILL_WAIT_SECONDS)
            except subprocess.TimeoutExpired:
                logger.error("%s (pid %d) survived SIGKILL", self.name, self.pid)

    def _signal_group(self, signum: signal.Signals) -> None:
        # The group id is the leader's pid (start_new_session); while the leader is
        # unreaped that id cannot belong to anyone else.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signum)


def spawn(
    *, name: str, argv: Sequence[str], log_path: pathlib.Path, cwd: pathlib.Path
) -> ManagedProcess:
    """Start one server in its own process group with stdout and stderr in ``log_path``."""
    # A fresh log per start, so an error shows this start's lines and no older ones.
    with log_path.open("wb") as log:
        popen = subprocess.Popen(
            _with_parent_death_signal(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
        )
    logger.debug("Started %s (pid %d): %s", name, popen.pid, " ".join(argv))
    return ManagedProcess(name=name, popen=popen, log_path=log_path)
