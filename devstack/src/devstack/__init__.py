"""Runs the embedded stack: PostgreSQL and the tansu broker, topics, and every service."""
