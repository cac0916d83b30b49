"""The L1 side of the rollup.

- `l1`: `L1Client`, the typed JSON-RPC client of an L1 endpoint, whose failures
  are the node's severities (`errors`);
- `bindings`: codecs of the L1 contracts' calldata, results, events and errors,
  made from the committed ABIs;
- `txmgr`: `TxManager`, the one writer to L1 (nonce, fees, resubmission,
  confirmations), used by every component that sends L1 transactions;
- `deploy`: the contract deployment and its deployment file;
- `rollup`: the rollup contract as the batcher and validators use it;
- `flows`: deposits and withdrawals as a user runs them (`openledger-node
  bridge`, docs/bridge.md), on the same clients and manager.
"""
