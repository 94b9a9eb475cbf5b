"""Mean-field actor-critic SFC placement over MEC nodes (issue 20, after Abouaomar et al.).

`scenario` (YAML, requests), `delay` (the paper's delay model, pure functions),
`env` (PettingZoo parallel env), `train` (mean-field actor-critic), `baselines`
(pymoo GA, greedy, random), `milp` (exact optimum by HiGHS), `evaluate` (figures, tables).
"""
