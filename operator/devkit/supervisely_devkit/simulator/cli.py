"""``supervisely-operator simulator``: serve the simulator from the command line.

Prints ``Supervisely simulator listening on http://HOST:PORT`` once it accepts connections (the
real port with ``--port 0``), so a parent process can wait for that line, and stops cleanly on
SIGTERM or SIGINT. The token comes from ``--token`` or, better (it stays out of ``ps``), from
the ``API_TOKEN`` environment variable.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import click

from supervisely_devkit.simulator.runner import Simulator
from supervisely_devkit.simulator.scenario import Scenario, ScenarioError

READY_LINE = "Supervisely simulator listening on {url}"


@click.command("simulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8088, show_default=True, help="0: any free."
)
@click.option(
    "--token",
    envvar="API_TOKEN",
    required=True,
    help="The accepted x-api-key (default: $API_TOKEN).",
)
@click.option(
    "--scenario",
    "scenario_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML or JSON scenario file (see docs/simulator.md).",
)
@click.option(
    "--record",
    "record_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Append every API call as a JSON line to this file.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
def simulator_command(
    host: str,
    port: int,
    token: str,
    scenario_path: Path | None,
    record_path: Path | None,
    log_level: str,
) -> None:
    """Serve a simulated Supervisely API for tests, demos and benchmarks."""
    try:
        scenario = Scenario.from_file(scenario_path) if scenario_path else Scenario()
    except ScenarioError as exc:
        raise click.BadParameter(str(exc), param_hint="--scenario") from exc
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(
        _serve(host=host, port=port, token=token, scenario=scenario, record_path=record_path)
    )


async def _serve(
    *, host: str, port: int, token: str, scenario: Scenario, record_path: Path | None
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with Simulator(
        token=token, scenario=scenario, host=host, port=port, record_path=record_path
    ) as simulator:
        click.echo(READY_LINE.format(url=simulator.base_url))
        await stop.wait()
    click.echo("Supervisely simulator stopped", err=True)
