"""A stored spec the operator's models refuse: said where the user looks, nothing done, and an
edit recovers it.

Helm installs CRDs once and never upgrades them, so a cluster can run this operator with an
older CRD that admitted specs the operator now refuses. kmock checks no schema at all, which
makes it the place to store such a spec.
"""

from supervisely_devkit.simulator import Simulator

from controller_harness import Cluster, OperatorStarter, condition, task_path, wait_until

NAMESPACE = "vision"
MESSAGE = (
    "The spec breaks the operator's rules, which this cluster's CRD is too old to check "
    "(upgrade the CRD): spec: set exactly one of moduleId and appSlug (ObserveOnly: at most "
    "one). Nothing is done until the spec is fixed"
)


async def test_a_spec_the_operator_refuses_is_reported_and_an_edit_recovers_it(
    cluster: Cluster, simulator: Simulator, simulator_token: str, start_operator: OperatorStarter
) -> None:
    await start_operator(SERVER_ADDRESS=simulator.base_url, API_TOKEN=simulator_token)
    await cluster.create_task(
        "both-apps",
        {"workspaceId": 1, "moduleId": 101, "appSlug": "supervisely-ecosystem/sim-train-finishes"},
        namespace=NAMESPACE,
    )
    await cluster.create_task("fine", {"workspaceId": 1, "moduleId": 103}, namespace=NAMESPACE)

    refused = await wait_until(
        lambda: condition(cluster.status("both-apps", namespace=NAMESPACE), "Synced"),
        what="the refusal in Synced",
    )
    assert (refused["status"], refused["reason"], refused["message"]) == (
        "False",
        "InvalidSpec",
        MESSAGE,
    )
    [warning] = await wait_until(
        lambda: [e for e in cluster.events(namespace=NAMESPACE) if e["reason"] == "InvalidSpec"],
        what="the InvalidSpec Event",
    )
    assert (warning["type"], warning["message"]) == ("Warning", MESSAGE)
    assert warning["involvedObject"]["name"] == "both-apps"
    await wait_until(
        lambda: cluster.status("fine", namespace=NAMESPACE).get("phase") == "Running",
        what="the other resource served",
    )
    assert cluster.status("both-apps", namespace=NAMESPACE)["observedGeneration"] == 1
    assert len(simulator.calls("tasks.run.app")) == 1, "nothing started for the refused spec"

    await cluster.patch(task_path("both-apps", namespace=NAMESPACE), {"spec": {"appSlug": None}})
    await wait_until(
        lambda: cluster.status("both-apps", namespace=NAMESPACE).get("phase") == "Succeeded",
        what="the fixed spec run to its end",
    )
    synced = condition(cluster.status("both-apps", namespace=NAMESPACE), "Synced")
    assert synced["status"] == "True"
    invalid = [e for e in cluster.events(namespace=NAMESPACE) if e["reason"] == "InvalidSpec"]
    assert len(invalid) == 1, "told once, not on every pass"
