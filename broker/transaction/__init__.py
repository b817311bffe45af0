"""The transaction coordinator (KIP-98): __transaction_state, the state machine, markers,
KIP-890 verification."""
