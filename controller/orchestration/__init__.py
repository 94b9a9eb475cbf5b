"""The orchestration loop between placement intervals: monitor → analyzer → planner →
executors (elasticity, migration), and the move of flows with their per-flow state between
NF instances (OpenNF's loss-free and order-preserving guarantees). docs/orchestration.md."""
