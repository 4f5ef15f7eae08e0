"""The pure model of accounts: aggregate, session rules, commands and errors (no I/O)."""
