"""``python -m supervisely_operator.simulator``: the simulator CLI without the console script."""

from supervisely_operator.simulator.cli import simulator_command

simulator_command(prog_name="supervisely-operator simulator")
