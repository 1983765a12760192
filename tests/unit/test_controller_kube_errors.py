"""Only an answer about the object says it is gone: a bare 404 from a server that does not
serve the resource right now (a restarted API server, until its CRDs are served again) must not
end a deletion whose task still runs."""

import json

import kubernetes
import pytest

from supervisely_operator.controller.kube import object_gone

NOT_FOUND = {
    "kind": "Status",
    "apiVersion": "v1",
    "status": "Failure",
    "reason": "NotFound",
    "code": 404,
    "details": {"name": "train", "group": "supervisely.com", "kind": "superviselytasks"},
}


def refusal(status: int, body: str) -> kubernetes.client.ApiException:
    error = kubernetes.client.ApiException(status=status, reason="Not Found")
    error.body = body
    return error


@pytest.mark.parametrize(
    ("error", "gone"),
    [
        pytest.param(refusal(404, json.dumps(NOT_FOUND)), True, id="the-object-is-not-found"),
        pytest.param(refusal(404, "404 page not found\n"), False, id="the-resource-not-served"),
        pytest.param(refusal(404, ""), False, id="no-body"),
        pytest.param(refusal(409, json.dumps({**NOT_FOUND, "code": 409})), False, id="conflict"),
    ],
)
def test_a_404_says_the_object_is_gone_only_with_a_status(
    error: kubernetes.client.ApiException, gone: bool
) -> None:
    assert object_gone(error) is gone
