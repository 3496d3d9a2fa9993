"""Message rendering in a sandbox: admins write templates, so they get no access and caps.

Templates run in Jinja2's ``ImmutableSandboxedEnvironment`` with ``StrictUndefined`` (a missing
variable is an error, never an empty string), and the output is capped in size. This module
renders the shipped template files (``templates/<kind>/<channel>.j2``); a channel without its
own file uses the kind's ``default.j2``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from hub.errors import RenderError

MAX_OUTPUT_CHARS = 4096


class TemplateRenderer:
    """Renders ``<kind>/<channel>.j2`` from a templates folder."""

    def __init__(self, folder: Path, *, max_chars: int = MAX_OUTPUT_CHARS) -> None:
        self.folder = folder
        self.max_chars = max_chars
        self._env = ImmutableSandboxedEnvironment(
            loader=jinja2.FileSystemLoader(str(folder)),
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # plain-text messages, not HTML
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def template_name(self, kind: str, channel: str) -> str:
        """The file used for a kind on a channel; RenderError when the kind has none."""
        for name in (f"{kind}/{channel}.j2", f"{kind}/default.j2"):
            if (self.folder / name).is_file():
                return name
        raise RenderError(f"消息类型 {kind} 没有 {channel} 渠道的模板（{self.folder}/{kind}/）")

    def render(self, kind: str, channel: str, context: Mapping[str, Any]) -> str:
        name = self.template_name(kind, channel)
        try:
            text = self._compiled(name).render(**context).strip()
        except jinja2.TemplateSyntaxError as exc:
            raise RenderError(f"模板 {name} 第 {exc.lineno} 行语法错误：{exc.message}") from exc
        except jinja2.UndefinedError as exc:
            raise RenderError(f"模板 {name} 使用了未提供的变量：{exc.message}") from exc
        except jinja2.exceptions.SecurityError as exc:
            raise RenderError(f"模板 {name} 执行了不允许的操作：{exc}") from exc
        if len(text) > self.max_chars:
            raise RenderError(f"模板 {name} 输出 {len(text)} 字，超过上限 {self.max_chars} 字")
        return text

    def _compiled(self, name: str) -> jinja2.Template:
        # Jinja's own cache keeps compiled templates and reloads a file that changed.
        return self._env.get_template(name)
