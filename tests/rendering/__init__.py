"""Tests of hub.rendering."""
