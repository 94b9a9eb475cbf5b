"""The srem application: its command line composes every subsystem's commands."""
