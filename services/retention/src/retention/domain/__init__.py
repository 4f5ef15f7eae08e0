"""The retention service's pure model: privacy requests and what subjects' data is held."""
