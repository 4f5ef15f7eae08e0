"""Adapters that drive the service: the internal HTTP API and the erasure consumer."""
