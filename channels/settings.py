"""What every channel's config.yaml section has in common, and the sandbox's section.

Pure pydantic data, no I/O: :mod:`hub.app.config` composes these sections (and the providers'
own, in ``channels/<provider>/settings.py``) into the settings it loads, and the channel setup
hands each channel its section as it is.
"""

from __future__ import annotations

from pydantic import Field

from hub.core.settings import FrozenSettings


class ProviderSettings(FrozenSettings):
    """A provider's switch and send rate; a provider adds its endpoint and credentials."""

    enabled: bool = False
    qps: float = Field(default=50.0, gt=0)

    def required(self, name: str) -> str:
        """A field the provider cannot work without, as text.

        The loader refuses an enabled provider without it (naming the key and line), so this
        fails only for a section built by hand without it, and says which field.
        """
        value = getattr(self, name)
        if value is None or value == "":
            raise ValueError(f"{type(self).__name__}.{name} is not set")
        return str(value)


class SandboxSettings(ProviderSettings):
    """``channels.sandbox``: the loopback channel, on by default, its inbox kept in Redis."""

    enabled: bool = True
    qps: float = 10_000.0
    inbox_size: int = Field(default=200, ge=1)
