"""Field roles are declared once, on the model, and the launch fingerprint follows them.

A new spec field without a role fails here, and so does a change of the fingerprint of a
spec that already runs somewhere: every running task would be replaced on the next edit.
"""

import pytest

from supervisely_operator.api import SuperviselyTaskSpec
from supervisely_operator.api.base import LAUNCH, POLICY, FieldRole, field_roles
from supervisely_operator.api.crd import openapi_schema
from supervisely_operator.reconcile.launch import LAUNCH_FIELDS, launch_hash

ROLES = field_roles(SuperviselyTaskSpec)
RUNNING_EVERYWHERE = {
    "68f4d660fe456c6d": {"moduleId": 101, "workspaceId": 1},
    "4f2a36c8066eb2d9": {
        "appSlug": "a/b",
        "workspaceId": 3,
        "agentId": 2,
        "params": {"x": 1},
        "kubernetesSettings": {"limitGpus": 1},
        "restartPolicy": "Never",
        "suspend": True,
        "failureRules": [{"action": "Fail", "onReason": ["TaskError"]}],
    },
}
"""Fingerprints of specs as the released operator computed them (before roles existed)."""


def test_every_spec_field_declares_exactly_one_role() -> None:
    missing = sorted(name for name, role in ROLES.items() if role is None)
    assert missing == [], f"say on each field whether it is LAUNCH or POLICY: {missing}"


def test_the_launch_fields_are_what_the_sdk_s_start_takes() -> None:
    assert {name for name, role in ROLES.items() if role is LAUNCH} == LAUNCH_FIELDS
    assert {
        "agentId",
        "moduleId",
        "appSlug",
        "appVersion",
        "isBranch",
        "workspaceId",
        "taskName",
        "description",
        "params",
        "logLevel",
        "usersIds",
        "multiUserSession",
        "limitByWorkspace",
        "serverRestartPolicy",
        "kubernetesSettings",
        "paramsFrom",
    } == LAUNCH_FIELDS


@pytest.mark.parametrize(("fingerprint", "spec"), RUNNING_EVERYWHERE.items())
def test_the_fingerprint_of_a_running_spec_never_changes(fingerprint: str, spec: dict) -> None:
    """A launch field added with a default that is not None changes this: give it None."""
    assert launch_hash(SuperviselyTaskSpec.model_validate(spec)) == fingerprint


POLICY_EDITS = {
    "restartPolicy": "Never",
    "backoff": {"limit": 9},
    "suspend": True,
    "activeDeadlineSeconds": 60,
    "ttlSecondsAfterFinished": 60,
    "deletionPolicy": "Orphan",
    "credentialsSecretRef": {"name": "creds"},
    "managementPolicy": "Full",
    "adoptTaskId": 9,
    "readiness": "TaskStarted",
    "startDeadlineSeconds": 60,
    "failureRules": [{"action": "Fail", "onReason": ["TaskError"]}],
    "pollIntervalSeconds": 5,
}
"""An edit of each policy field (a new one needs its own here)."""


def test_every_policy_field_has_an_edit_to_try() -> None:
    assert set(POLICY_EDITS) == {name for name, role in ROLES.items() if role is POLICY}


@pytest.mark.parametrize(("name", "value"), POLICY_EDITS.items())
def test_editing_a_policy_field_keeps_the_fingerprint(name: str, value: object) -> None:
    base = {"moduleId": 101, "workspaceId": 1}
    edited = SuperviselyTaskSpec.model_validate({**base, name: value})
    assert launch_hash(edited) == launch_hash(SuperviselyTaskSpec.model_validate(base))


def test_editing_a_launch_field_changes_the_fingerprint() -> None:
    base = SuperviselyTaskSpec.model_validate({"moduleId": 101, "workspaceId": 1})
    for update in ({"params": {"epochs": 2}}, {"app_version": "v2"}, {"agent_id": 3}):
        assert launch_hash(base.model_copy(update=update)) != launch_hash(base), update


@pytest.mark.parametrize("role", list(FieldRole))
def test_the_crd_tells_users_each_field_s_role(role: FieldRole) -> None:
    spec = openapi_schema()["properties"]["spec"]["properties"]
    for name, declared in ROLES.items():
        if declared is role:
            assert spec[name]["description"].endswith(role.sentence), name
