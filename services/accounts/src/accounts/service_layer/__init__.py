"""Use cases of the accounts service: one handler per command."""
