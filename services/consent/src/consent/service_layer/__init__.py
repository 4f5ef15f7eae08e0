"""Use cases of the consent service."""
