-- Actions on a SuperviselyTask (supervisely-operator, supervisely.com/v1alpha1).
--
-- All four are always listed, so the menu does not move; the ones that would do
-- nothing useful now are disabled. Argo CD runs an action from the CLI or API even
-- when it is disabled here, so each action is safe in any state: it writes one
-- field, and the operator decides what it means (a restart under ObserveOnly, for
-- example, is ignored). Only Lua's base functions are used: Argo CD opens no
-- string library for scripts configured in argocd-cm.

local metadata = obj.metadata or {}
local spec = obj.spec or {}
local status = obj.status or {}
local annotations = metadata.annotations or {}
local phase = status.phase

-- The operator leaves a paused resource alone entirely, refresh requests included.
local paused = annotations["supervisely.com/paused"] == "true"
-- ObserveOnly mirrors a task and never starts, stops or restarts one.
local observeOnly = spec.managementPolicy == "ObserveOnly"
local deleting = metadata.deletionTimestamp ~= nil
local suspended = spec.suspend == true
local finished = phase == "Succeeded" or phase == "Failed"
local controls = not paused and not observeOnly and not deleting

-- A task to replace: a live one, one waiting to be restarted after an error
-- (Pending with a task id), or a finished run to run again. Not while Stopping: a
-- new task follows by itself (spec changed) or none should (suspend, deletion).
local restartable = finished or (status.taskId ~= nil and
    (phase == "Pending" or phase == "Queued" or phase == "Running"))
-- Still to run or running; a resource with no status yet can be suspended before
-- its first start. A phase this script does not know (a newer operator) is neither.
local suspendable = phase == nil or phase == "Pending" or phase == "Queued" or
    phase == "Running" or phase == "Stopping"

local actions = {}
actions["restart"] = {
  ["disabled"] = not (controls and not suspended and restartable),
  ["iconClass"] = "fa fa-fw fa-redo",
  ["displayName"] = "Restart task",
}
actions["suspend"] = {
  ["disabled"] = not (controls and not suspended and suspendable),
  ["iconClass"] = "fa fa-fw fa-pause",
  ["displayName"] = "Suspend",
}
actions["resume"] = {
  ["disabled"] = not (controls and suspended),
  ["iconClass"] = "fa fa-fw fa-play",
  ["displayName"] = "Resume",
}
actions["refresh"] = {
  ["disabled"] = paused,
  ["iconClass"] = "fa fa-fw fa-sync",
  ["displayName"] = "Refresh from Supervisely",
}
return actions
