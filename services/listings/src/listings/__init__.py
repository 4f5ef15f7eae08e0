"""The listings service."""
