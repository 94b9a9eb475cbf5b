"""The SR-EM model shared by every method: scenario, workload, substrate and catalogue, constraints, costs, delays, paths, one step evaluated, a day run, and the gymnasium environment."""
