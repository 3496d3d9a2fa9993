"""Tests of hub.core."""
