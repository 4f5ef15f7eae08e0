"""The messaging service's rules: pure, no I/O, no clock."""
