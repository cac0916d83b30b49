"""The L1 side of the rollup: contract deployment (and, in later milestones, the
L1 client, transaction manager, deposit watcher, output proposer and withdrawal
prover)."""
