"""Operator tasks: environments, training, the process supervisor, health checks."""
