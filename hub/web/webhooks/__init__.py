"""Provider webhooks, one module per provider, each exposing ``router(ctx) -> APIRouter``; the
SMS providers also ``lean_routes(ctx)``, the same functions for :mod:`hub.web.webhooks.lean`.

Every route verifies before it stores: WeChat and WeCom by signature, Telegram by its secret
token header, the SMS providers (which sign nothing) by a secret path segment and an optional
source-IP allow-list. Anything unverified gets 401/403 and stores nothing. What a verified
body says is read by its channel's pure parsers (``parse_receipts``, ``parse_reply``), reached
through :mod:`channels.registry`: a webhook only verifies, stores and answers. A verified reply
is stored durably before the provider is answered, so a redelivery stores nothing new: through
``ctx.accepter`` (``hub.inbound.accept_batch``), one commit for the replies of concurrent
requests.
"""
