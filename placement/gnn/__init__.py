"""Learned placement: a graph policy over substrate and instances (issue 21 part 1)."""
