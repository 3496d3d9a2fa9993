"""Tests of hub.scheduling."""
