"""Use cases of the messaging service."""
