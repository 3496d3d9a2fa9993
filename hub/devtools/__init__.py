"""Tools for developers and demos: ``hub bench`` and what it measures, demo data and its loading.

May import anything in hub except the CLI (the CLI imports them).
"""
