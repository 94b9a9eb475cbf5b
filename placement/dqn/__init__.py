"""SR-EM's filtered DQN (`network`), its training loop (`train`) and the paper's filter-convergence figure (`convergence`)."""
