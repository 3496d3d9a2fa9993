"""What Tencent Cloud and Aliyun SMS accept: each provider's :class:`ChannelLimits`.

A module of its own, importing nothing but :mod:`channels.base`, so the template check reads the
limits through :mod:`channels.registry` without loading the senders.
"""

from __future__ import annotations

import re
from typing import Final

from channels.base import ChannelLimits

#: Tencent and Aliyun refuse longer messages outright (characters, signature included).
SMS_MAX_TEXT_CHARS: Final = 500

TENCENT_LIMITS: Final = ChannelLimits(
    max_text_chars=SMS_MAX_TEXT_CHARS,
    template_id_pattern=re.compile(r"^\d{1,12}$"),
)
ALIYUN_LIMITS: Final = ChannelLimits(
    max_text_chars=SMS_MAX_TEXT_CHARS,
    # Aliyun's default for a notification variable; longer needs its own approval.
    template_param_max_chars=35,
    template_id_pattern=re.compile(r"^SMS_\d+$"),
    reserved_names=frozenset({"email", "mobile", "id", "nick", "site"}),
)
#: Either provider may send an SMS (failover): a template meets both.
SMS_LIMITS: Final = TENCENT_LIMITS.together_with(ALIYUN_LIMITS)
