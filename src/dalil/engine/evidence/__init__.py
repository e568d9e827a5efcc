"""Evidence handling: hashing, acquisition, blob store, custody ledger, seals, exports."""
