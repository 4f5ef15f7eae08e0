"""I/O of the accounts service: projection tables, password hashing."""
