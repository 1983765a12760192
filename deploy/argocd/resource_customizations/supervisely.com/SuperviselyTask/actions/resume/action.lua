-- Start a new task: spec.suspend back to false. Desired state, like suspend.
obj.spec.suspend = false
return obj
