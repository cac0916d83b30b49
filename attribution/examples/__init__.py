"""Ready-made setups for the `openledger-attribution` command line.

A setup is what `--setup MODULE:FACTORY` names: a callable returning an object
with `model`, `task`, `train_dataset`, `contribution_ids`, and optionally
`collate_fn` and `load_queries(path)`. See `attribution.examples.digits`.
"""
