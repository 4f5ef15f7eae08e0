"""Runs the embedded stack: PostgreSQL and an Apache Kafka broker, topics, and every service."""
