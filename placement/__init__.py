"""Placement: the shared SR-EM model (`model`), one subpackage per method (`baselines`, `milp`, `mpc`, `dqn`, `mfg`), the agent registry (`agents`) and the evaluation (`evaluation`)."""
