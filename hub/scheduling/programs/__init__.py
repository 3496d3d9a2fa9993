"""Seed programs, one module each: what a schedule's fire does (the next step fills this)."""
