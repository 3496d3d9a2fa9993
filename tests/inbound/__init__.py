"""Tests of hub.inbound.accept."""
