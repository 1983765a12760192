-- Run the cron task once now, as Argo CD's create-job does for a CronJob: the
-- operator makes one run for each distinct value, whatever concurrencyPolicy says,
-- and records the value in status.triggerHandled. An annotation that Git does not set
-- is not part of the desired state: the resource does not go OutOfSync.
local os = require("os")
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["supervisely.com/trigger-requested-at"] = os.date("!%Y-%m-%dT%XZ")
return obj
