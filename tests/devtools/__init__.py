"""Tests of hub.devtools."""
