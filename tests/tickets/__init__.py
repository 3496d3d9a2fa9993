"""Tests of hub.tickets.lifecycle."""
