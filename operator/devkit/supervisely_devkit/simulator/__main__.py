"""``python -m supervisely_devkit.simulator``: the simulator CLI without the console script."""

from supervisely_devkit.simulator.cli import simulator_command

simulator_command(prog_name="supervisely-simulator")
