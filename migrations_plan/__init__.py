"""The migration plan (plan.yaml + one page per step) and the walker behind `strangler plan`."""
