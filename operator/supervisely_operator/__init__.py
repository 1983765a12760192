"""Run Supervisely app sessions declared as Kubernetes SuperviselyTask resources."""
