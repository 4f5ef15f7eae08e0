"""PostgreSQL adapters of the listings service."""
