"""The application: runtime wiring (open every component once, close in reverse), the channels
config.yaml enables (the one place that builds provider channels), and the long-running
processes (web server, dispatcher, inbound worker, reconciler, scheduler). Features never
import the app: runtime builds their objects from the open components.

May import anything in hub and channels.
"""
