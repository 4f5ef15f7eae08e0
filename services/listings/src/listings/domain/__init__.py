"""The listings domain: pure rules, no I/O, no clock."""
