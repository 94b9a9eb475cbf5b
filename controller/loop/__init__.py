"""The controller's loop: read counters, ask the agent, apply make-before-break (`step`), and `srem control`."""
