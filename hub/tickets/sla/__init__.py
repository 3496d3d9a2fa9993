"""Service levels (时限督办): the rules (what is due for a ticket at a moment), the snapshots they
read, the sweep that applies them once, and the loop that runs it in the scheduler's leader.
"""
