"""The scale benchmark's parts, shared by ``bench/scale.py`` and its short form in the e2e tests.

``workload`` says what is applied (the mix of lifecycles and the simulator scenario), ``kube``
and ``watch`` talk to the API server, ``processes`` runs and samples the contenders, ``lag``
matches the simulator's status changes to what the watch saw, ``operator_output`` reads the
operator's metrics and log, ``measure`` holds the floor and the operator runs, ``baselines``
the two comparisons, and ``report`` turns results into the table, JSON, Markdown and plot.
Every loop here is bounded in time, and nothing keeps more than a few small records per
object, so 10,000 objects stay cheap.
"""
