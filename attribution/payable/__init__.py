"""Payable AI off chain: query records, served models, the inference service, the
chain client, the content store and the verifier that recomputes settlements."""
