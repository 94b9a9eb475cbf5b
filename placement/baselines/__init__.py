"""Heuristic baselines: RANDOM, greedy, greedy-hold and LAG."""
