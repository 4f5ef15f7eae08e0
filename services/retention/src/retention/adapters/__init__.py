"""Persistence of the retention service: event-sourced requests and projections."""
