"""kopf wiring, Kubernetes access and credentials: the thin shell around reconcile/."""
