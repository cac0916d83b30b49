"""Execution layer: OpenLedgerVM on py-evm, transactions, genesis and apply_block."""
