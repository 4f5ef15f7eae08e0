"""Thin adapters turning HTTP calls and Kafka deliveries into handler calls."""
