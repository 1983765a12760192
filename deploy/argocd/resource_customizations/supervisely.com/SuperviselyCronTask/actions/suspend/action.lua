-- Make no runs while spec.suspend is true (runs that live go on). This is the desired
-- state: if Git sets spec.suspend, the resource goes OutOfSync, and an Application
-- with selfHeal puts Git's value back.
obj.spec.suspend = true
return obj
