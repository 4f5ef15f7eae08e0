"""How events and requests reach the listings service."""
