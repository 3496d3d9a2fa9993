"""Tests of the web admin (hub/web/admin)."""
