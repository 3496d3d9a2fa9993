"""The application: runtime wiring (open every component once, close in reverse), the channels
config.yaml enables (the one place that builds provider channels), and the long-running
processes (web server, dispatcher, inbound worker, reconciler, scheduler).

May import anything in hub and channels.
"""
