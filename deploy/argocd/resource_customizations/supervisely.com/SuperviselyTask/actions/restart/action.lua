-- Ask the operator to stop the current task and start a new one from the spec.
-- It acts once per distinct value and records the value in
-- status.restartRequestHandled. An annotation that Git does not set is not part of
-- the desired state: the resource does not go OutOfSync.
local os = require("os")
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["supervisely.com/restart-requested-at"] = os.date("!%Y-%m-%dT%XZ")
return obj
