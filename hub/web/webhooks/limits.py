"""The body limit of each webhook by path prefix, for :mod:`hub.web.body_limit`'s middleware.

Each provider's number is its module's ``MAX_BODY``, chosen from what the provider sends:

- WeChat / WeCom callbacks are one small XML document (a user's text is a few KB at most, the
  encrypted envelope about 4/3 of the message): 64 KiB.
- Tencent SMS receipts come as a JSON array of ~200 bytes an entry: 1 MiB.
- Aliyun's "HTTP batch push" documents no batch size (a push carries up to a few thousand
  items): 4 MiB, the one route above the app-wide 1 MiB.
- A Telegram update is one message (4,096 characters, JSON-escaped up to 6 bytes each) with
  what it replies to or quotes: 1 MiB. Its module imports aiogram, so the number lives here.
"""

from __future__ import annotations

from typing import Final

from hub.web.webhooks import sms_aliyun, sms_tencent, wechat

TELEGRAM_MAX_BODY: Final = 1024 * 1024

WEBHOOK_BODY_LIMITS: Final = {
    "/webhooks/wechat/": wechat.MAX_BODY,
    "/webhooks/sms/tencent/": sms_tencent.MAX_BODY,
    "/webhooks/sms/aliyun/": sms_aliyun.MAX_BODY,
    "/webhooks/telegram": TELEGRAM_MAX_BODY,
}
