"""The operator's test tooling, shipped apart from it: the simulator, the dev cluster, the demo.

Importing this package imports none of its subpackages, so the simulator alone runs on the
base dependencies; ``devcluster`` and ``demo`` need the extras of the same names.
"""
