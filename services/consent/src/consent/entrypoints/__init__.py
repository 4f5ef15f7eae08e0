"""How events and requests reach the consent service."""
