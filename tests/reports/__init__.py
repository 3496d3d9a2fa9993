"""Tests of hub.reports."""
