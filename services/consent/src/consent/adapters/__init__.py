"""PostgreSQL adapters of the consent service."""
