"""Tests of hub.app: the whole house, as a user runs it."""
