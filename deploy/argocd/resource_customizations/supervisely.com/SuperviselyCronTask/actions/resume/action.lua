-- Make runs again from the next tick (a tick missed meanwhile runs late once, within
-- startingDeadlineSeconds). The desired state, as suspend.
obj.spec.suspend = false
return obj
