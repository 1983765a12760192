-- Health of a SuperviselyCronTask (supervisely-operator, supervisely.com/v1alpha1).
--
-- The operator sums a cron task up in one condition, Ready (False while suspended, or
-- for a spec it cannot act on, with the reason), and in the times of its last runs
-- (status.lastSuccessfulTime, status.lastFailedTime). The runs themselves are
-- SuperviselyTasks with a health of their own. Only Lua's base functions are used:
-- Argo CD opens no string library for scripts configured in argocd-cm.

local hs = {}

-- The condition of the given type, or nil.
local function getCondition(conditions, conditionType)
  if conditions == nil then
    return nil
  end
  for _, condition in ipairs(conditions) do
    if condition.type == conditionType then
      return condition
    end
  end
  return nil
end

local metadata = obj.metadata or {}
local status = obj.status or {}

-- The operator has not read this version of the spec yet (a new or edited cron task).
if status.observedGeneration == nil or status.observedGeneration ~= metadata.generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe the spec"
  return hs
end

local ready = getCondition(status.conditions, "Ready")
if ready ~= nil and ready.status == "False" then
  if ready.reason == "Suspended" then
    hs.status = "Suspended"
  else
    hs.status = "Degraded"
  end
  hs.message = ready.message or ready.reason
  return hs
end

-- The operator writes both times as RFC 3339 in UTC, which order as strings (but for two
-- moments in one second, one of them with no fraction written: a tie a health check can miss).
local failed = status.lastFailedTime
local succeeded = status.lastSuccessfulTime
if failed ~= nil and (succeeded == nil or failed > succeeded) then
  hs.status = "Degraded"
  hs.message = "The last run failed at " .. failed
  return hs
end

-- A live run is the runs' own business (each has a health of its own): the schedule is fine.
local upcoming = status.nextScheduleTime
local running = status.activeCount or 0
hs.status = "Healthy"
if running > 0 and upcoming ~= nil then
  hs.message = tostring(running) .. " running, next run at " .. upcoming
elseif running > 0 then
  hs.message = tostring(running) .. " running"
elseif upcoming ~= nil then
  hs.message = "Next run at " .. upcoming
else
  hs.message = (ready and ready.message) or "Scheduling"
end
return hs
