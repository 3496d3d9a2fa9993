"""Tickets (诉求工单), the closed loop: the lifecycle, the desk (what the CLI and API do, with
roles checked), lookup, numbers, notices, recipients, routing, policy and its store, settings,
staff, ratings, feedback on resolve, the callback survey; deadlines/ and sla/.

May import hub.queries, hub.outbound, hub.rendering, hub.store, hub.infra and
hub.core. Not inbound, scheduling, app, web or cli.
"""
