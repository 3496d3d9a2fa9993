"""What a template is: :class:`TemplateSpec` and its parts, :class:`Catalog`, :class:`Rendered`.

A template is a :class:`TemplateSpec` — the text of ``templates/<kind>/<channel>.j2`` (or the
kind's ``default.j2``) plus what ``meta.yaml`` declares for it — whether it came from the files
(:mod:`hub.rendering.templates`) or from a version in the database
(:mod:`hub.rendering.template_store`). A :class:`Catalog` holds one spec per (kind, channel); a
:class:`~hub.rendering.render.TemplateRenderer` renders from it into a :class:`Rendered`. Plain
data, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from channels.registry import channel_limits, required
from hub.rendering.sms_text import PLACEHOLDER, SMS_PARAM_MAX_CHARS

# A field of an Official Account template message (its channel's limits, channels/registry.py).
WECHAT_FIELD_MAX_CHARS = required(
    channel_limits("wechat").template_field_max_chars, "WeChat template field"
)

# What the outbox puts in every render context (hub/outbound/outbox.py); templates need not declare
# them.
STANDARD_VARIABLES = frozenset(
    {"hub_name", "enterprise", "contact", "officer_name", "officer_mobile"}
)


@dataclass(frozen=True, slots=True)
class Variable:
    """A variable the caller passes, as declared in meta.yaml (the example feeds check/preview)."""

    name: str
    description: str
    example: Any = None
    required: bool = True
    default: Any = None


@dataclass(frozen=True, slots=True)
class SmsParam:
    """One placeholder of an approved SMS template and the Jinja expression that fills it."""

    name: str
    expr: str
    max_chars: int = SMS_PARAM_MAX_CHARS


@dataclass(frozen=True, slots=True)
class SmsSpec:
    """Provider template ids (``tencent``, ``aliyun``) and the parameters in declared order."""

    template_ids: Mapping[str, str]
    params: tuple[SmsParam, ...]

    def tencent_text(self, approved: str) -> str:
        """The approved text as Tencent writes it: ``${name}`` becomes ``{n}`` by declared order."""
        order = {p.name: i for i, p in enumerate(self.params, start=1)}
        return PLACEHOLDER.sub(lambda m: f"{{{order.get(m.group(1), 0)}}}", approved)


@dataclass(frozen=True, slots=True)
class WechatSpec:
    """A WeChat Official Account template message: its id and one Jinja template per field."""

    template_id: str
    fields: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class TemplateSpec:
    """One template for one kind on one channel, from the files or from a stored version."""

    kind: str
    channel: str
    body: str
    source: str  # the file it came from: "<channel>.j2" or "default.j2"
    variables: Mapping[str, Variable] = field(default_factory=dict)
    description: str = ""
    sms: SmsSpec | None = None
    wechat: WechatSpec | None = None
    version: int | None = None
    version_id: int | None = None
    lines: Mapping[str, int] = field(default_factory=dict, compare=False)  # meta key -> line

    @property
    def approved_sms(self) -> bool:
        """True when the body is a provider-approved SMS text rather than a Jinja template."""
        return self.channel == "sms" and self.sms is not None

    def meta_json(self) -> dict[str, Any]:
        """What a stored version keeps beside the body (only this channel's sections)."""
        meta: dict[str, Any] = {
            "source": self.source,
            "description": self.description,
            "variables": {
                v.name: {
                    "description": v.description,
                    "example": v.example,
                    "required": v.required,
                    "default": v.default,
                }
                for v in self.variables.values()
            },
        }
        if self.sms is not None and self.channel == "sms":
            meta["sms"] = {
                "template_ids": dict(self.sms.template_ids),
                "params": [
                    {"name": p.name, "expr": p.expr, "max_chars": p.max_chars}
                    for p in self.sms.params
                ],
            }
        if self.wechat is not None and self.channel == "wechat":
            meta["wechat"] = {
                "template_id": self.wechat.template_id,
                "fields": dict(self.wechat.fields),
            }
        return meta

    @classmethod
    def from_json(
        cls,
        kind: str,
        channel: str,
        body: str,
        meta: Mapping[str, Any],
        *,
        version: int | None = None,
        version_id: int | None = None,
    ) -> TemplateSpec:
        """Rebuild a spec from a stored version (the inverse of :meth:`meta_json`)."""
        variables = {
            name: Variable(
                name,
                str(v.get("description", "")),
                v.get("example"),
                bool(v.get("required", True)),
                v.get("default"),
            )
            for name, v in (meta.get("variables") or {}).items()
        }
        sms = meta.get("sms")
        wechat = meta.get("wechat")
        return cls(
            kind=kind,
            channel=channel,
            body=body,
            source=str(meta.get("source", f"{channel}.j2")),
            variables=variables,
            description=str(meta.get("description", "")),
            sms=SmsSpec(
                {str(k): str(v) for k, v in sms["template_ids"].items()},
                tuple(
                    SmsParam(p["name"], p["expr"], int(p.get("max_chars", SMS_PARAM_MAX_CHARS)))
                    for p in sms["params"]
                ),
            )
            if sms
            else None,
            wechat=WechatSpec(
                str(wechat["template_id"]),
                tuple((str(k), str(v)) for k, v in wechat["fields"].items()),
            )
            if wechat
            else None,
            version=version,
            version_id=version_id,
        )


class Catalog:
    """The templates in force: one spec per (kind, channel), plus kinds that failed to load."""

    def __init__(
        self, specs: Iterable[TemplateSpec] = (), broken: Mapping[str, str] | None = None
    ) -> None:
        self._specs = {(s.kind, s.channel): s for s in specs}
        self.broken: dict[str, str] = dict(broken or {})

    def get(self, kind: str, channel: str) -> TemplateSpec | None:
        return self._specs.get((kind, channel))

    def __iter__(self) -> Iterator[TemplateSpec]:
        return iter(sorted(self._specs.values(), key=lambda s: (s.kind, s.channel)))

    def __len__(self) -> int:
        return len(self._specs)


@dataclass(frozen=True, slots=True)
class Rendered:
    """A rendered message; for an approved SMS, ``params`` are in the template's declared order."""

    kind: str
    channel: str
    body: str
    params: tuple[str, ...] = ()
    param_names: tuple[str, ...] = ()
    provider_template_ids: Mapping[str, str] = field(default_factory=dict)
    fields: Mapping[str, str] = field(default_factory=dict)
    version: int | None = None
    version_id: int | None = None

    def template_param(self) -> dict[str, str]:
        """Aliyun's ``TemplateParam`` (by name); Tencent's ``TemplateParamSet`` is ``params``."""
        return dict(zip(self.param_names, self.params, strict=True))

    def message_params(self) -> dict[str, Any]:
        """What the outbox stores in ``Message.params`` for a provider to send from."""
        data: dict[str, Any] = {}
        if self.params:
            data["names"] = list(self.param_names)
            data["values"] = list(self.params)
        if self.provider_template_ids:
            data["template_ids"] = dict(self.provider_template_ids)
        if self.fields:
            data["fields"] = dict(self.fields)
        return data
