"""A token Supervisely refuses: reported in a condition, never revealed."""

import pytest

from harness import Operator, SimulatorView, Tasks, condition


@pytest.fixture
def operator_token() -> str:
    return "not-the-simulator-token-7d1e2b"


def test_a_bad_token_is_reported_without_revealing_it(
    tasks: Tasks, simulator: SimulatorView, operator: Operator, operator_token: str
) -> None:
    tasks.apply("denied", {"moduleId": 101})
    obj = tasks.wait(
        "denied",
        lambda o: o is not None and condition(o, "Synced").get("reason") == "Unauthorized",
        what="reporting the token refused",
    )
    assert obj is not None
    assert simulator.calls("tasks.run.app")[0].token_valid is False
    assert operator_token not in str(obj)
    assert operator_token not in operator.whole_log()
