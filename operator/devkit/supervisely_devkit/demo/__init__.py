"""The demo: the operator's main job, end to end, on the embedded control plane and simulator."""
