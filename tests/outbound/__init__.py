"""Tests of hub.outbound."""
