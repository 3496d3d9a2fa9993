"""Messages out: audience, routing, quiet hours, composing one message (route -> render ->
fallbacks), planning, the outbox, one-off notifications, campaigns, the dispatcher (what a
failed send leads to, recording the answers), delivery receipts, opt-outs, admin alerts,
unknown sends and the recovery of lost work.

May import hub.core, hub.infra, hub.store, hub.rendering and channels.base.
Not inbound, tickets, scheduling, app, web or cli.
"""
