"""Start, poll, restart, replace, deadline and TTL, on the real API server with the simulator."""

from harness import Operator, SimulatorView, Tasks, condition

FINISHES = "supervisely-ecosystem/sim-train-finishes"
FAILS = "supervisely-ecosystem/sim-train-fails"
SERVE_MODULE = 103


def started_tasks(simulator: SimulatorView) -> list[int]:
    return [task["id"] for task in simulator.tasks()]


def test_a_finishing_app_is_started_recorded_and_succeeds(
    tasks: Tasks, simulator: SimulatorView, operator: Operator
) -> None:
    tasks.apply("train", {"appSlug": FINISHES, "agentId": 1})
    obj = tasks.wait_phase("train", "Succeeded")
    status = obj["status"]
    [task_id] = started_tasks(simulator)
    assert status["taskId"] == task_id
    assert (status["moduleId"], status["agentId"], status["remoteStatus"]) == (101, 1, "finished")
    assert status["sessionUrl"] == f"{simulator.base_url}/apps/sessions/{task_id}"
    assert status["startedAt"] <= status["finishedAt"]
    assert status["observedGeneration"] == obj["metadata"]["generation"]
    succeeded = condition(obj, "Succeeded")
    assert (succeeded["status"], succeeded["observedGeneration"]) == ("True", 1)
    assert condition(obj, "Ready")["status"] == "False"
    tasks.kubectl("wait", "--for=condition=Succeeded", "slytask/train", "--timeout=5s")

    [start] = simulator.calls("tasks.run.app")
    assert start.body["moduleId"] == 101
    assert start.body["taskName"] == f"{tasks.namespace}/train"
    assert start.body["description"].startswith("[supervisely-operator:")
    lookup = simulator.calls("ecosystem.list")[0]
    assert lookup.body["filter"] == [{"field": "slug", "operator": "=", "value": FINISHES}]
    assert len(simulator.calls("agents.info")) == 1


def test_kubernetes_settings_reach_supervisely_flat_in_advanced_settings(
    tasks: Tasks, simulator: SimulatorView, operator: Operator
) -> None:
    settings = {
        "useHealthCheck": True, "requestCpus": 2, "limitCpus": 4, "limitMemoryGb": 16,
        "limitShmGb": 4, "limitStorageGb": 50, "limitGpus": 1, "limitGpuMemoryMb": 12000,
        "limitGpuCoresPerc": 50,
    }  # fmt: skip
    tasks.apply(
        "limits",
        {
            "moduleId": 101,
            "limitByWorkspace": True,
            "params": {"epochs": 2},
            "logLevel": "debug",
            "kubernetesSettings": settings,
        },
    )
    tasks.wait_phase("limits", "Succeeded")
    [start] = simulator.calls("tasks.run.app")
    assert start.body["advancedSettings"] == {"limitByWorkspace": True, **settings}
    assert start.body["params"] == {"state": {"epochs": 2}}
    assert (start.body["logLevel"], start.body["agentId"]) == ("debug", None)


def test_a_serving_app_is_ready_while_it_runs(
    tasks: Tasks, simulator: SimulatorView, operator: Operator
) -> None:
    tasks.apply("serve", {"moduleId": SERVE_MODULE})
    tasks.kubectl("wait", "--for=condition=Ready", "slytask/serve", "--timeout=30s")
    obj = tasks.get("serve")
    assert obj is not None
    assert (obj["status"]["phase"], obj["status"]["remoteStatus"]) == ("Running", "started")


def test_an_app_that_fails_is_restarted_with_backoff_then_fails_with_its_log(
    tasks: Tasks, simulator: SimulatorView, operator: Operator
) -> None:
    backoff = {"limit": 2, "initialDelaySeconds": 1, "maxDelaySeconds": 2}
    tasks.apply("fails", {"appSlug": FAILS, "backoff": backoff})
    obj = tasks.wait_phase("fails", "Failed", timeout=45)
    status = obj["status"]
    ids = started_tasks(simulator)
    assert len(ids) == 3, "the first start and two restarts"
    assert status["restarts"] == 2
    assert status["previousTaskIds"] == ids[:2]
    assert status["taskId"] == ids[2]
    assert status["lastError"]["reason"] == "TaskError"
    assert status["lastError"]["taskId"] == ids[2]
    assert "Last log lines" in status["lastError"]["message"]
    assert "[error]" in status["lastError"]["message"]
    failed = condition(obj, "Failed")
    assert (failed["status"], failed["reason"]) == ("True", "BackoffLimitExceeded")


def test_editing_the_spec_replaces_the_task_once_and_policy_edits_do_not(
    tasks: Tasks, simulator: SimulatorView, operator: Operator
) -> None:
    tasks.apply("serve", {"moduleId": SERVE_MODULE, "params": {"v": 1}})
    first = tasks.wait_phase("serve", "Running")["status"]["taskId"]

    tasks.patch_spec("serve", {"backoff": {"limit": 5}, "activeDeadlineSeconds": 3600})
    tasks.wait(
        "serve",
        lambda o: o is not None and o["status"].get("observedGeneration") == 2,
        what="observed generation 2",
    )
    assert started_tasks(simulator) == [first], "a policy edit leaves the task alone"

    tasks.patch_spec("serve", {"params": {"v": 2}})
    obj = tasks.wait(
        "serve",
        lambda o: (
            o is not None
            and o["status"].get("taskId") not in (None, first)
            and o["status"].get("phase") == "Running"
        ),
        what="running a new task",
    )
    assert obj is not None
    assert obj["status"]["previousTaskIds"] == [first]
    assert simulator.task_status(first) == "stopped"
    assert len(simulator.calls("tasks.run.app")) == 2
    assert simulator.calls("tasks.run.app")[1].body["params"] == {"state": {"v": 2}}


def test_a_task_past_its_deadline_is_stopped_and_fails(
    tasks: Tasks, simulator: SimulatorView, operator: Operator
) -> None:
    tasks.apply("slow", {"moduleId": SERVE_MODULE, "activeDeadlineSeconds": 2})
    obj = tasks.wait_phase("slow", "Failed", timeout=30)
    assert condition(obj, "Failed")["reason"] == "DeadlineExceeded"
    assert simulator.task_status(obj["status"]["taskId"]) == "stopped"
    assert len(simulator.calls("tasks.run.app")) == 1, "a deadline is not a reason to restart"


def test_a_finished_resource_is_deleted_after_its_ttl(
    tasks: Tasks, simulator: SimulatorView, operator: Operator
) -> None:
    tasks.apply("short", {"moduleId": 101, "ttlSecondsAfterFinished": 1})
    tasks.wait_phase("short", "Succeeded")
    tasks.wait_gone("short", timeout=20)
