"""PostgreSQL adapters of the messaging service."""
