"""Schedules (schedules/*.yaml -> versioned rows) and the scheduler that fires them in one
process at a time; programs/ holds the seed programs.

May import the feature packages below it (outbound, tickets, ...), hub.store,
hub.infra and hub.core. Not app, web or cli.
"""
