-- Health of a SuperviselyTask (supervisely-operator, supervisely.com/v1alpha1).
--
-- The operator sums a task up in status.phase and in four conditions: Ready,
-- Succeeded and Failed follow the phase, and Synced is False while the operator
-- cannot talk to Supervisely (its reason says why). The script reads only those,
-- and uses only Lua's base functions: Argo CD does not open the string library
-- for health checks configured in argocd-cm.

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

-- The condition's message, or the fallback when there is no condition or no message.
local function messageOf(condition, fallback)
  if condition ~= nil and condition.message ~= nil and condition.message ~= "" then
    return condition.message
  end
  return fallback
end

-- Synced=False reasons the operator gets over by itself: it keeps retrying, with a
-- delay that grows with the outage, and nobody has to act. Supervisely unreachable
-- or answering 5xx (Unavailable), a start whose outcome it is still looking up
-- (StartOutcomeUnknown), a named agent that is not running yet (AgentNotRunning:
-- the task starts when it is). Any other reason (Unauthorized, SecretNotFound,
-- SecretInvalid, CredentialsMissing, ...) waits for someone to fix something.
local selfHealingReasons = {
  Unavailable = true,
  StartOutcomeUnknown = true,
  AgentNotRunning = true,
}

local status = obj.status

-- Nothing to judge until the operator has acted on the current generation of the spec.
if status == nil or status.observedGeneration == nil or
    (obj.metadata.generation ~= nil and status.observedGeneration < obj.metadata.generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe the spec"
  return hs
end

local phase = status.phase
local conditions = status.conditions
local ready = getCondition(conditions, "Ready")

-- Final and suspended phases: what Supervisely can or cannot be asked now does not
-- change them, so they come before Synced.
if phase == "Succeeded" then
  hs.status = "Healthy"
  hs.message = messageOf(getCondition(conditions, "Succeeded"), "Task finished")
  return hs
end

if phase == "Failed" then
  -- The Failed condition holds the short reason; lastError adds the log tail.
  local lastError = status.lastError
  local fallback = "Task failed"
  if lastError ~= nil and lastError.message ~= nil then
    fallback = lastError.message
  end
  hs.status = "Degraded"
  hs.message = messageOf(getCondition(conditions, "Failed"), fallback)
  return hs
end

if phase == "Suspended" then
  hs.status = "Suspended"
  hs.message = messageOf(ready, "Suspended: no task runs")
  return hs
end

-- The operator cannot talk to Supervisely: the phase is the last one it saw.
local synced = getCondition(conditions, "Synced")
if synced ~= nil and synced.status == "False" then
  if synced.reason ~= nil and selfHealingReasons[synced.reason] then
    hs.status = "Progressing"
  else
    hs.status = "Degraded"
  end
  hs.message = messageOf(synced, "Cannot talk to Supervisely")
  return hs
end

-- A serving app is healthy while it runs; a training app is on its way.
if phase == "Running" then
  hs.status = "Healthy"
  hs.message = messageOf(ready, "Task is running")
  return hs
end

if phase == "Pending" or phase == "Queued" or phase == "Stopping" then
  hs.status = "Progressing"
  hs.message = messageOf(ready, "Task is " .. phase)
  return hs
end

if phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to start the task"
  return hs
end

-- A phase this script does not know: a newer operator than the script.
hs.status = "Unknown"
hs.message = "Unknown phase " .. tostring(phase)
return hs
