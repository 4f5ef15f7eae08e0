"""Shared kernel: event store, outbox relay, consumers, key store, observability."""
