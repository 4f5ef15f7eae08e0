"""The consent domain: purpose catalogue, statement versions, the ledger (pure)."""
