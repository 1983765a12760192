-- Ask the operator to reconcile and poll Supervisely now rather than at its next
-- poll. It acts once per distinct value and records the value in
-- status.refreshHandled. Not part of the desired state, like restart.
local os = require("os")
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["supervisely.com/refresh-requested-at"] = os.date("!%Y-%m-%dT%XZ")
return obj
