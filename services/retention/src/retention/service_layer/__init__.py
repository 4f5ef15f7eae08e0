"""Use cases of the retention service: one handler per command or event reaction."""
