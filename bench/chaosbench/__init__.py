"""Chaos: resources created, suspended, resumed, edited and deleted at random while the operator
is SIGKILLed and Supervisely fails in every way it can, then invariants checked from outside.

``bench/chaos.py`` runs the long form; ``tests/e2e/test_chaos.py`` the short one.
"""
