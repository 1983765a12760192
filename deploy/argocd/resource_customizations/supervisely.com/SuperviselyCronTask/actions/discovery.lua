-- Actions on a SuperviselyCronTask (supervisely-operator, supervisely.com/v1alpha1).
--
-- All three are always listed, so the menu does not move; the ones that would do
-- nothing useful now are disabled. Argo CD runs an action from the CLI or API even
-- when it is disabled here, so each action is safe in any state: it writes one
-- field, and the operator decides what it means. Only Lua's base functions are used.

local metadata = obj.metadata or {}
local spec = obj.spec or {}
local status = obj.status or {}
local deleting = metadata.deletionTimestamp ~= nil
local suspended = spec.suspend == true

-- A spec the operator refuses makes no runs, triggered or not, until it is fixed (a trigger
-- written meanwhile runs then).
local broken = false
for _, condition in ipairs(status.conditions or {}) do
  if condition.type == "Ready" and condition.reason == "InvalidSpec" then
    broken = true
  end
end

local actions = {}
-- A run now, suspended or not, whatever concurrencyPolicy says (as create-job for a CronJob).
actions["trigger"] = {
  ["disabled"] = deleting or broken,
  ["iconClass"] = "fa fa-fw fa-play-circle",
  ["displayName"] = "Run now",
}
actions["suspend"] = {
  ["disabled"] = deleting or suspended,
  ["iconClass"] = "fa fa-fw fa-pause",
  ["displayName"] = "Suspend",
}
actions["resume"] = {
  ["disabled"] = deleting or not suspended,
  ["iconClass"] = "fa fa-fw fa-play",
  ["displayName"] = "Resume",
}
return actions
