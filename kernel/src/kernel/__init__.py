"""Shared kernel: event store, outbox relay, consumers, crypto-shredding key store, observability."""
