"""Use cases of the listings service."""
