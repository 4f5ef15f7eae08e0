"""How events and requests reach the messaging service."""
