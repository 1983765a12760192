"""Per-resource credentials from a Secret in the resource's own namespace, kept out of sight.

The local control plane serves no Secrets, so the operator's reading of ``credentialsSecretRef``
is proven here: which Secret it asks the API for, whose server and token it then uses, what the
resource says when the Secret is not there, and that the token shows up in no status, no Event
and no log line (DEBUG included).
"""

import base64
import logging

import pytest

from supervisely_devkit.simulator import Simulator

from controller_harness import Cluster, OperatorStarter, condition, json_text, sent, wait_until

NAMESPACE = "vision"
SECRET = "sly-creds"
SERVES = {"workspaceId": 1, "moduleId": 103, "credentialsSecretRef": {"name": SECRET}}
WRONG_TOKEN = "operator-env-token-that-supervisely-refuses-7f3a"


def secret_reads(cluster: Cluster) -> list[str]:
    """Paths of every Secret the operator asked the API for, in order."""
    return [r.url.path for r in cluster.api if r.method == "GET" and "/secrets/" in r.url.path]


def leaked_anywhere(token: str, cluster: Cluster, caplog: pytest.LogCaptureFixture) -> list[str]:
    """Where the token (or its base64 form, as stored in the Secret) can be read."""
    forms = (token, base64.b64encode(token.encode()).decode())
    places = {
        "status patches": json_text(
            [sent(p) for p in cluster.status_patches("train", namespace=NAMESPACE)]
        ),
        "stored status": json_text(cluster.status("train", namespace=NAMESPACE)),
        "events": json_text(cluster.events(namespace=NAMESPACE)),
        "logs": caplog.text,
    }
    return [where for where, text in places.items() if any(form in text for form in forms)]


@pytest.mark.parametrize(
    "operator_env",
    [
        pytest.param({}, id="operator-without-credentials"),
        pytest.param(
            {"SERVER_ADDRESS": "http://127.0.0.1:9", "API_TOKEN": WRONG_TOKEN},
            id="operator-with-other-credentials",
        ),
    ],
)
async def test_the_secret_in_the_resources_namespace_supplies_server_and_token(
    cluster: Cluster,
    simulator: Simulator,
    simulator_token: str,
    start_operator: OperatorStarter,
    caplog: pytest.LogCaptureFixture,
    operator_env: dict[str, str],
) -> None:
    caplog.set_level(logging.DEBUG)
    await start_operator(**operator_env)
    await cluster.create_secret(
        SECRET,
        {"SERVER_ADDRESS": simulator.base_url, "API_TOKEN": simulator_token},
        namespace=NAMESPACE,
    )
    await cluster.create_task("train", SERVES, namespace=NAMESPACE)

    task_id = await wait_until(
        lambda: cluster.status("train", namespace=NAMESPACE).get("taskId"),
        what="a task started with the Secret's credentials",
    )
    assert [task["id"] for task in simulator.tasks()] == [task_id]
    calls = simulator.calls()
    assert "tasks.run.app" in {call.method for call in calls}
    assert all(call.token_valid for call in calls), "every call carried the Secret's token"
    reads = secret_reads(cluster)
    assert reads, "the Secret was read through the API"
    assert set(reads) == {f"/api/v1/namespaces/{NAMESPACE}/secrets/{SECRET}"}
    assert leaked_anywhere(simulator_token, cluster, caplog) == []
    assert cluster.server_faults() == []


async def test_a_secret_missing_from_the_resources_namespace_is_reported_not_borrowed(
    cluster: Cluster,
    simulator: Simulator,
    simulator_token: str,
    start_operator: OperatorStarter,
) -> None:
    """The same name in another namespace must not serve: a tenant may not borrow credentials."""
    await start_operator()
    await cluster.create_secret(
        SECRET,
        {"SERVER_ADDRESS": simulator.base_url, "API_TOKEN": simulator_token},
        namespace="someone-else",
    )
    await cluster.create_task("train", SERVES, namespace=NAMESPACE)

    message = f"Secret {NAMESPACE}/{SECRET} does not exist"
    synced = await wait_until(
        lambda: condition(cluster.status("train", namespace=NAMESPACE), "Synced"),
        what="a Synced condition",
    )
    assert (synced["status"], synced["reason"], synced["message"]) == (
        "False",
        "SecretNotFound",
        message,
    )
    [warning] = await wait_until(
        lambda: [e for e in cluster.events(namespace=NAMESPACE) if e["type"] == "Warning"],
        what="a Warning event",
    )
    assert (warning["reason"], warning["message"]) == ("SecretNotFound", message)
    assert warning["involvedObject"]["name"] == "train"
    assert set(secret_reads(cluster)) == {f"/api/v1/namespaces/{NAMESPACE}/secrets/{SECRET}"}
    assert cluster.refusals(404), "the API answered the read with 404"
    assert simulator.calls() == [], "nothing reached Supervisely"
    assert cluster.server_faults() == []


async def test_a_token_from_a_secret_that_supervisely_refuses_is_reported_without_it(
    cluster: Cluster,
    simulator: Simulator,
    start_operator: OperatorStarter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The refusal is where a token leaks most easily: error texts, retries, debug logs."""
    caplog.set_level(logging.DEBUG)
    await start_operator()
    await cluster.create_secret(
        SECRET,
        {"SERVER_ADDRESS": simulator.base_url, "API_TOKEN": WRONG_TOKEN},
        namespace=NAMESPACE,
    )
    await cluster.create_task("train", SERVES, namespace=NAMESPACE)

    [warning] = await wait_until(
        lambda: [e for e in cluster.events(namespace=NAMESPACE) if e["type"] == "Warning"],
        what="a Warning event",
    )
    assert warning["reason"] == "Unauthorized"
    assert warning["message"].startswith("Supervisely refused the API token")
    synced = condition(cluster.status("train", namespace=NAMESPACE), "Synced")
    assert (synced["status"], synced["reason"]) == ("False", "Unauthorized")
    assert simulator.calls(), "Supervisely was asked"
    assert not any(call.token_valid for call in simulator.calls())
    assert simulator.tasks() == []
    assert leaked_anywhere(WRONG_TOKEN, cluster, caplog) == []
    assert cluster.server_faults() == []
