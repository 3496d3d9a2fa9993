"""Tests of hub.infra (against a real Redis server)."""
