"""Replies in: accept (store the raw reply, dedupe, queue), the inbound worker, classify/, apply
(what a reply does to the records), answers to the contact and the outcome kept about a reply;
Telegram chat links.

May import everything below it: hub.tickets.lifecycle, hub.queries, hub.outbound, hub.rendering,
hub.store, hub.infra, hub.core. Not scheduling, app, web or cli.
"""
