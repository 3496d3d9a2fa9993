"""Tests of hub.queries."""
