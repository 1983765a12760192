"""The operator of a chaos run: one process, or several replicas with peering, and when each
of them acted.

With several replicas the run kills mostly the one that acts (the failover is what is under
test), sometimes a standby, and restarts each at once, as a Deployment would. Every kill is
kept: a SIGKILL leaves no line in the log, so it ends the victim's acting window (see
:mod:`chaosbench.acting`).
"""

import asyncio
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from supervisely_devkit.demo.process import OperatorProcess

from chaosbench.acting import Window, acting_windows

KILL_THE_ACTING_ONE = 0.75
"""With several replicas, the share of kills aimed at the replica that acts."""


@dataclass(frozen=True)
class Kill:
    replica: str
    at: datetime
    acting: bool
    """Whether the replica was acting when it died (the kills whose failover counts)."""


@dataclass
class Replicas:
    """The operator's processes, by name; a single one runs standalone."""

    processes: dict[str, OperatorProcess]
    kills: list[Kill] = field(default_factory=list)

    @classmethod
    def make(
        cls,
        count: int,
        *,
        kubeconfig: Path,
        server: str,
        token: str,
        workdir: Path,
        env: Mapping[str, str],
        peering: Mapping[str, str],
    ) -> "Replicas":
        """``count`` processes; with more than one, each peers with ``peering``'s settings."""
        names = ["operator"] if count == 1 else [f"replica-{index}" for index in range(count)]
        processes = {
            name: OperatorProcess(
                kubeconfig=kubeconfig,
                server=server,
                token=token,
                log_path=workdir / f"{name}-chaos.log",
                env={**env, **(peering if count > 1 else {})},
                verbose=False,
            )
            for name in names
        }
        return cls(processes)

    async def start(self) -> None:
        await asyncio.gather(
            *(asyncio.to_thread(process.start) for process in self.processes.values())
        )

    async def stop(self) -> None:
        await asyncio.gather(
            *(asyncio.to_thread(process.stop) for process in self.processes.values())
        )

    def logs(self) -> dict[str, str]:
        return {name: process.log() for name, process in self.processes.items()}

    def vocabulary(self) -> str:
        """The words the operator under test uses: its own claim, or (older) kopf's peering."""
        claim = any("Claiming leadership" in text for text in self.logs().values())
        return "claim" if claim else "kopf"

    def windows(self, *, until: datetime) -> list[Window]:
        """When each replica acted, up to ``until``; a standalone operator acts while alive."""
        if len(self.processes) == 1:
            return []
        vocabulary = self.vocabulary()
        return [
            window
            for name, text in self.logs().items()
            for window in acting_windows(
                text,
                replica=name,
                until=until,
                deaths=[kill.at for kill in self.kills if kill.replica == name],
                vocabulary=vocabulary,
            )
        ]

    def acting(self) -> str | None:
        now = datetime.now()
        acting = [window.replica for window in self.windows(until=now) if window.end == now]
        return acting[0] if acting else None

    async def kill_one(self, rng: random.Random) -> Kill:
        """SIGKILL one replica (mostly the acting one) and start it again at once."""
        names = list(self.processes)
        acting = self.acting()
        if acting is not None and (len(names) == 1 or rng.random() < KILL_THE_ACTING_ONE):
            victim = acting
        else:
            victim = rng.choice([name for name in names if name != acting] or names)
        process = self.processes[victim]
        await asyncio.to_thread(process.kill)
        kill = Kill(victim, datetime.now(), acting=victim == acting)
        self.kills.append(kill)
        await asyncio.sleep(rng.uniform(0.0, 1.0))
        await asyncio.to_thread(process.start)
        return kill

    def failovers(self, windows: list[Window]) -> list[tuple[datetime, float]]:
        """(death, seconds until any replica acts again) for each death of the acting one."""
        found = []
        for kill in self.kills:
            if not kill.acting:
                continue
            later = [window.start for window in windows if window.start >= kill.at]
            if later:
                found.append((kill.at, (min(later) - kill.at).total_seconds()))
        return found
