"""The derivation pipeline: L1 data in, L2 block inputs out, one module per stage."""
