# srem: `make run` sets up and runs the main job; `make test` runs the tests.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
OUT     ?= results
EPISODES ?= 6000

.PHONY: setup emulation-deps run test bench lint eval model figures heldout prediction prediction-figures mfg-model mfg-srem-model mfg-figures migration-figures migration-loop-figures gnn-model gnn-eval gnn-forecast agent21-heldout agent21-fast bound21 bmv2-figures orch-day tofino-report clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	$(MAKE) --no-print-directory emulation-deps
	touch $(STAMP)

setup: $(STAMP)

# The emulated fabric needs Debian's Mininet (and ethtool); as root, install them, and
# let the venv import Debian's mininet package. Without root the emulation is skipped.
# The real p4c and BMv2, where ../shared/p4real sits beside the clone: their libraries.
MININET := /usr/lib/python3/dist-packages/mininet
emulation-deps:
	@if [ "$$(id -u)" = 0 ] && ! { command -v mnexec && command -v ethtool; } >/dev/null; then \
		apt-get install -y -q --no-install-recommends mininet ethtool >/dev/null 2>&1 || \
		{ apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends mininet ethtool >/dev/null; } || \
		echo "note: could not install mininet/ethtool; the emulation tests will be skipped"; fi
	@if [ -x ../shared/p4real/setup ]; then ../shared/p4real/setup >/dev/null; fi
	@if [ -d $(MININET) ]; then ln -sfn $(MININET) "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/mininet"; fi

# The main job on its embedded default: one day of the paper's scenario.
run: $(STAMP)
	$(BIN)/srem run --out $(OUT)/run

test: $(STAMP)
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python -m tests.benchmarks.bench_env
	$(BIN)/python -m tests.benchmarks.bench_switch
	$(BIN)/python -m tests.benchmarks.bench_p4runtime
	$(BIN)/python -m tests.benchmarks.bench_em
	$(BIN)/python -m tests.benchmarks.bench_controller
	$(BIN)/python -m tests.benchmarks.bench_agents
	$(BIN)/python -m tests.benchmarks.bench_mpc
	$(BIN)/python -m tests.benchmarks.bench_move
	$(BIN)/python -m tests.benchmarks.bench_lmalloc
	$(BIN)/python -m tests.benchmarks.bench_migration
	$(BIN)/python -m tests.benchmarks.bench_migration --meters
	$(BIN)/python -m tests.benchmarks.bench_gnn
	$(BIN)/python -m tests.benchmarks.bench_training

# Trains the shipped policies (srem: hybrid filtered DQN; ddqn-cm: the baseline), seeded.
model: $(STAMP)
	$(BIN)/srem train --agent srem --episodes $(EPISODES) --seed 0 --out runs/srem
	$(BIN)/srem train --agent ddqn-cm --episodes $(EPISODES) --seed 0 --out runs/ddqn-cm
	cp runs/srem/policy.pt placement/models/srem.pt
	cp runs/ddqn-cm/policy.pt placement/models/ddqn-cm.pt

# docs/results.md at full size: every agent on the held-out scenarios of `make heldout`
# (srem trained with three seeds on each), the day MILP's bound, and Fig. 5 (filters).
# Hours at this size; `make heldout` is the reduced run whose files are committed.
FIG_ARGS ?= --scenarios seed:31,seed:32,fattree-k4:31,tea --instances 300 --milp-instances 10 --episodes $(EPISODES)
figures: $(STAMP)
	$(BIN)/srem figures --out docs/figures $(FIG_ARGS)
	$(BIN)/srem convergence --episodes $(EPISODES) --seed 0 --out docs/figures

# docs/results.md + docs/figures/: every agent on scenarios no policy trained on (issue 21),
# reduced (docs/results.md says how; about 45 min here, two runs side by side).
heldout: $(STAMP)
	OMP_NUM_THREADS=1 nice -n 10 $(BIN)/srem figures --out docs/figures \
	  --scenarios seed:31,seed:32,fattree-k4:31,tea --train-seeds 0 --episodes 1000 --instances 30 \
	  --milp-instances 1 --milp-time-limit 10 --milp-day-time-limit 120
	OMP_NUM_THREADS=1 nice -n 10 $(BIN)/srem figures --out docs/figures \
	  --scenarios fattree-k8:31 --agents mpc,mpc-forecast,gnn-refine,gnn,mfg,lag,greedy,greedy-hold,random --instances 6

# docs/agent21.md "The day MILP's bound, warm-started": the day MILP on 2 test days of each
# held-out scenario, started from mpc-forecast's day, 600 s a day (105 min here: HiGHS overran
# its limit on one k=4 day).
BOUND21_LIMIT ?= 600
bound21: $(STAMP)
	OMP_NUM_THREADS=1 nice -n 10 $(BIN)/srem figures --out docs/figures/bound21 \
	  --scenarios seed:31,seed:32,fattree-k4:31,tea --agents mpc-forecast,mpc,gnn-refine,gnn,milp-day \
	  --instances 2 --milp-instances 2 --milp-day-time-limit $(BOUND21_LIMIT) --milp-day-start mpc-forecast

# Every agent on the paper scenario's test days (the MILPs on 3 of them).
eval: $(STAMP)
	$(BIN)/srem eval --instances 300 --milp-instances 3 --out $(OUT)/eval

# The failure predictor's page (docs/prediction.md), tables, PR plot and shipped models (~6-8 min, CPU).
prediction: $(STAMP)
	$(BIN)/srem predict eval --ship

# Failure policies: the simulator (~9 min each, CPU) and the emulated fabric (root, Mininet;
# ~17 min at load 40): docs/prediction/.
prediction-figures: $(STAMP)
	$(BIN)/srem predict simulate
	$(BIN)/srem predict simulate --config prediction/data/simulate-slow-moves.yaml --out docs/prediction/slow-moves
	$(BIN)/srem predict replay --slots 14 --seconds-per-slot 1.5

# The mean-field agent's shipped policy (~35 s) and docs/mfg/ (~11 min; srem mfg eval --quick: ~4 min).
# mfg-srem-model: its SR-EM placement policy (~5.5 min).
mfg-srem-model: $(STAMP)
	$(BIN)/srem mfg train-srem --out runs/mfg-srem --episodes 600 --ship
mfg-model: $(STAMP)
	$(BIN)/srem mfg train --out $(OUT)/mfg-train --episodes 2000 --ship
mfg-figures: $(STAMP)
	$(BIN)/srem mfg eval --out docs/mfg

# docs/migration/: every migration method on the paper's three scenarios (--quick: ~12 min here).
migration-figures: $(STAMP)
	$(BIN)/srem migrate eval --quick

# DeepMigration as the loop's planner: every method on loop-sized problems (~0.5 min) and one
# real loop run (root; ~45 s): docs/migration/loop.md, loop-run.md.
migration-loop-figures: $(STAMP)
	$(BIN)/srem migrate eval-loop
	$(BIN)/python -m tests.test_orch_deepmigration

# The emulated paper day with injected overloads and the orchestration loop (root, Mininet;
# ~5 min): docs/orchestration/.
orch-day: $(STAMP)
	$(BIN)/python -m emulation.orchreport

# The fabric's Tofino build report in p4src/README.md (bf-p4c: eval "$$(../shared/bfp4c/setup)"; ~3 min).
tofino-report: $(STAMP)
	$(BIN)/python -m controller.fabric.tofino

# The GNN policy (DAgger imitation of mpc, ~10 min) and docs/gnn/eval (~7 min).
gnn-model: $(STAMP)
	$(BIN)/srem gnn train --out runs/gnn
	cp runs/gnn/policy.pt placement/gnn/models/gnn.pt
gnn-forecast: $(STAMP)
	$(BIN)/srem gnn forecast --out placement/mpc/models/forecast.yaml
# docs/agent21.md's held-out tables: gnn-refine and mpc-forecast against mpc (about 13 min)
agent21-heldout: $(STAMP)
	OMP_NUM_THREADS=1 nice -n 10 $(BIN)/srem figures --out docs/agent21/heldout-v2 \
	  --scenarios seed:31,seed:32,fattree-k4:31,tea --agents gnn-refine,mpc --instances 30 --workers 1
	OMP_NUM_THREADS=1 nice -n 10 $(BIN)/srem figures --out docs/agent21/heldout-v2 \
	  --scenarios fattree-k8:31 --agents gnn-refine,mpc --instances 3 --workers 1
	OMP_NUM_THREADS=1 nice -n 10 $(BIN)/srem figures --out docs/agent21/heldout-k8f \
	  --scenarios fattree-k8:31 --agents mpc-forecast,mpc --instances 3 --workers 1
	$(BIN)/python -m placement.gnn.heldout docs/agent21/heldout-v2/*/eval.json
	mkdir -p runs && git show 6a93f3f:placement/gnn/models/gnn.pt > runs/gnn-before-tea.pt
	$(BIN)/python -m placement.gnn.repolicy --policy placement/gnn/models/gnn.pt --old runs/gnn-before-tea.pt \
	  --refine tea seed:31 seed:32 fattree-k4:31 fattree-k8:31
# docs/agent21.md "The search made fast": benchmark, frontier, profile (about 5 min)
agent21-fast: $(STAMP)
	BENCH_MPC_MD=docs/agent21/bench-mpc.md nice -n 10 $(BIN)/python -m tests.benchmarks.bench_mpc
	OMP_NUM_THREADS=1 nice -n 10 $(BIN)/python -m placement.mpc.frontier --days 5 --out docs/agent21/frontier.md
	OMP_NUM_THREADS=1 nice -n 10 $(BIN)/python -m tests.benchmarks.bench_mpc profile > docs/agent21/profile.md
gnn-eval: $(STAMP)
	for s in paper-seed11 paper-seed12 paper-seed13 fattree-k4; do \
	  $(BIN)/srem eval --scenario placement/gnn/data/$$s.yaml --agents gnn,mpc,greedy,lag,random \
	    --instances 20 --workers 2 --out docs/gnn/eval/$$s || exit 1; done
	$(BIN)/srem eval --scenario fattree-k8 --agents gnn,mpc,greedy,lag,random --instances 6 --workers 2 --out docs/gnn/eval/fattree-k8
	$(BIN)/python -m placement.gnn.report docs/gnn/eval/*/eval.json

# The paper's day at several packet budgets on srem's switch and on BMv2 (root, Mininet,
# ../shared/p4real; ~9 min) and the ECN/burst tables (~2 min): docs/bmv2/.
bmv2-figures: $(STAMP)
	$(BIN)/python -m emulation.budget --targets srem,simple_switch_grpc --budgets 300,600 --out docs/bmv2
	$(BIN)/python -m tests.differential docs/bmv2

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .ruff_cache
