"""``python -m supervisely_operator``: the same as the ``supervisely-operator`` console script."""

from supervisely_operator.cli import main

main()
