"""Every way a template can grow a string or a list is capped *before* it allocates.

Admins write templates; a render must never allocate hundreds of MB. Each case below used to
pass the check and then build its result (``'x'.ljust(600000000)`` took 600 MB on every
render); now each is refused with a render error naming the cap, and tracemalloc shows the
render stayed within a few MB.
"""

from __future__ import annotations

import time
import tracemalloc
from typing import Any

import pytest

from hub.core.errors import RenderError
from hub.rendering import sandbox as render_sandbox
from hub.rendering import sizes as render_sizes
from hub.rendering.render import TemplateRenderer
from hub.rendering.sandbox import RenderLimits
from hub.rendering.template_spec import Catalog, TemplateSpec

PEAK_BYTES = 8 * 2**20  # the caps allow ~64K-character values; a few MB of working room

BIG = "{% set big = 'x' * 60000 %}"
LINES = "{% set lines = 'a\\n' * 30000 %}"

GROWING = [
    # str methods the issue lists
    ("ljust", "{{ 'x'.ljust(600000000) }}"),
    ("rjust", "{{ 'x'.rjust(600000000) }}"),
    ("center", "{{ 'x'.center(600000000) }}"),
    ("zfill", "{{ 'x'.zfill(600000000) }}"),
    ("expandtabs", "{{ ('x\\t' * 10).expandtabs(60000000) }}"),
    ("expandtabs many tabs", "{{ ('\\t' * 60000).expandtabs(60000) }}"),
    ("join of a large list", BIG + "{{ ','.join([big] * 20000) }}"),
    ("join with a long separator", BIG + "{{ big.join('a' * 20000) }}"),
    ("nested joins", "{{ ('a' * 300).join('b' * 300).join('c' * 300) }}"),
    ("join of a generator", "{{ ''.join(range(99999) | map('center', 50000)) }}"),
    # str methods it does not list
    ("replace with an empty needle", BIG + "{{ big.replace('', 'y' * 1000) }}"),
    ("replace that grows", BIG + "{{ big.replace('x', 'x' * 1000) }}"),
    ("translate", BIG + "{{ big.translate({120: big}) }}"),
    ("format width", "{{ '{:>600000000}'.format(1) }}"),
    ("format fields times a long value", BIG + "{{ ('{0}' * 1000).format(big) }}"),
    ("format_map", BIG + "{{ ('{a}' * 1000).format_map({'a': big}) }}"),
    ("format width from an argument", "{{ '{0:{1}}'.format(1, 600000000) }}"),
    ("bytes times", BIG + "{{ big.encode() * 1000 }}"),
    ("bytes ljust", "{{ 'x'.encode().ljust(600000000) }}"),
    ("int to_bytes", "{{ (1).to_bytes(600000000, 'big') }}"),
    # operators
    ("str times", "{{ 'x' * 10 ** 9 }}"),
    ("list times", "{{ [1] * 10 ** 9 }}"),
    ("a list of long strings printed", BIG + "{{ [big] * 60000 }}"),
    ("printf width", "{{ '%600000000s' % 1 }}"),
    ("printf conversions times a long value", BIG + "{{ ('%s' * 1000) % ((big,) * 1000) }}"),
    ("printf star width", "{{ '%*s' % (600000000, 1) }}"),
    ("concat of many long values", BIG + "{{ " + " ~ ".join(["big"] * 1000) + " }}"),
    ("list plus", BIG + "{% set l = [big] * 30000 %}{{ (l + l) | length }}"),
    # filters
    ("range list", "{{ range(10 ** 9) | list }}"),
    ("lipsum", "{{ lipsum(10 ** 6) }}"),
    ("center filter", "{{ 'x' | center(10 ** 9) }}"),
    ("indent filter", "{{ 'x' | indent(10 ** 9) }}"),
    ("indent filter on many lines", LINES + "{{ lines | indent(60000) }}"),
    ("indent filter with a long string", LINES + "{{ lines | indent(' ' * 60000) }}"),
    (
        "wordwrap with a long wrapstring",
        "{{ ('ab ' * 20000) | wordwrap(1, wrapstring='y' * 60000) }}",
    ),
    ("join filter", BIG + "{{ ([big] * 60000) | join }}"),
    ("join filter separator", BIG + "{{ ('x' * 60000) | list | join(big) }}"),
    ("format filter", BIG + "{{ ('%s' * 1000) | format(*([big] * 1000)) }}"),
    ("replace filter", BIG + "{{ big | replace('x', 'xxxxx') }}"),
    ("string filter of a big list", BIG + "{{ ([big] * 60000) | string }}"),
    ("tojson indent", "{{ [[1]] | tojson(indent=600000000) }}"),
    ("urlize target", BIG + "{{ ('a.com ' * 10000) | urlize(target=big) }}"),
    ("map to a growing filter then list", "{{ range(99999) | map('center', 50000) | list }}"),
    ("batch fill", "{{ [1] | batch(600000000, 'x') | list }}"),
    # output that accumulates somewhere else than the streamed body
    (
        "block set in a loop",
        BIG
        + "{% set s %}{% for i in range(20000) %}{{ big }}{% endfor %}{% endset %}{{ s|length }}",
    ),
    (
        "macro body in a loop",
        BIG + "{% macro m() %}{% for i in range(20000) %}{{ big }}{% endfor %}{% endmacro %}"
        "{{ m()|length }}",
    ),
    (
        "filter block",
        BIG + "{% filter upper %}{% for i in range(20000) %}{{ big }}{% endfor %}{% endfilter %}",
    ),
    (
        "call block",
        BIG + "{% macro m() %}{{ caller()|length }}{% endmacro %}"
        "{% call m() %}{% for i in range(20000) %}{{ big }}{% endfor %}{% endcall %}",
    ),
    (
        "template text in a buffered loop",
        "{% set s %}{% for i in range(20000) %}" + "x" * 15000 + "{% endfor %}{% endset %}",
    ),
    (
        "template text beside a value in a buffered loop",
        "{% set s %}{% for i in range(20000) %}{{ i }}" + "x" * 15000 + "{% endfor %}{% endset %}",
    ),
]


def render(body: str, context: dict[str, Any] | None = None) -> str:
    renderer = TemplateRenderer(Catalog(), limits=RenderLimits())
    spec = TemplateSpec("notice", "sandbox", body, "default.j2")
    return renderer.render_spec(spec, context or {}).body


@pytest.mark.parametrize("body", [body for _name, body in GROWING], ids=[n for n, _ in GROWING])
def test_growth_is_refused_before_it_allocates(body: str) -> None:
    tracemalloc.start()
    # CPU seconds, not wall: on a shared machine the wall clock measures the other processes.
    started = time.process_time()
    try:
        with pytest.raises(RenderError) as info:
            render(body)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "上限" in str(info.value) or "undefined" in str(info.value), info.value
    assert peak < PEAK_BYTES, f"peak {peak // 2**20} MB"
    assert time.process_time() - started < 2


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("{{ 'ab'.ljust(4, '.') }}|{{ '7'.zfill(3) }}|{{ 'a\\tb'.expandtabs(2) }}", "ab..|007|a b"),
        ("{{ '、'.join(tags) }} {{ tags | join('、') }}", "专精特新、小微 专精特新、小微"),
        ("{{ '{:,}'.format(1500000) }} {{ '%d 元' % 1500000 }}", "1,500,000 1500000 元"),
        ("{{ '{name}'.format_map({'name': '甲'}) }}", "甲"),
        ("{{ name.replace('有限公司', '') }}", "鹤城机械"),
        ("{{ name | replace('机械', '精工') }}", "鹤城精工有限公司"),
        ("[{{ 'ab' | center(6) }}|{{ 'a\\nb' | indent(2) }}]", "[  ab  |a\n  b]"),
        ("{{ ('abc ' * 10) | wordwrap(8) | length }}", "39"),
        ("{{ tags | map('upper') | join(',') }}", "专精特新,小微"),
        ("{{ dict(amount=1500000).amount }} {{ {'a': 1}.get('b', 2500000) }}", "1500000 2500000"),
        (
            "{% macro money(n) %}{{ '{:,}'.format(n) }}{% endmacro %}{{ money(2500000) }}",
            "2,500,000",
        ),
        (
            "{{ [1, 2] * 3 }} {{ 'ab' ~ 'c' ~ 1 }} {{ (range(3) | list) + [9] }}",
            "[1, 2, 1, 2, 1, 2] abc1 [0, 1, 2, 9]",
        ),
        ("{% set s %}{% for t in tags %}{{ t }};{% endfor %}{% endset %}{{ s }}", "专精特新;小微;"),
        # a key, unless the dict has an attribute of that name (as Jinja looks them up)
        ("{{ d.name }} {{ d.keys() | list | join(',') }} {{ d['keys'] }}", "甲 name,keys 乙"),
        (
            "{{ {'a': 1} | tojson }} {{ 'ab' | list | batch(1) | list }}",
            "{\"a\": 1} [['a'], ['b']]",
        ),
    ],
)
def test_ordinary_uses_of_the_same_methods_still_work(body: str, expected: str) -> None:
    context: dict[str, Any] = {"tags": ["专精特新", "小微"], "name": "鹤城机械有限公司"}
    context["d"] = {"name": "甲", "keys": "乙"}
    assert render(body, context) == expected


def test_a_missing_key_is_a_strict_undefined_naming_it() -> None:
    with pytest.raises(RenderError, match="no attribute 'industry'"):
        render("{{ enterprise.industry }}", {"enterprise": {"name": "甲"}})


def test_plain_text_is_measured_by_its_length_not_walked(monkeypatch: pytest.MonkeyPatch) -> None:
    # Ordinary templates print, join and filter plain text: its length is its size, so the
    # general walk (hub.rendering.sizes.weight) should not run on every render.
    body = (
        "【{{ hub_name }}】{{ enterprise.name }}：{{ '请于' ~ deadline ~ '前申报' }}"
        "{{ mobile | replace('+86', '') }} {{ title | default('无') | upper | string }}"
    )
    context = {
        "hub_name": "主动服务",
        "enterprise": {"name": "鹤城机械有限公司"},
        "deadline": "12月15日",
        "mobile": "+8613800000000",
        "title": "ab",
    }
    renderer = TemplateRenderer(Catalog(), limits=RenderLimits())
    spec = TemplateSpec("notice", "sandbox", body, "default.j2")
    renderer.compile(spec)
    walked: list[Any] = []

    def counting_weight(value: Any, limit: int) -> int:
        walked.append(value)
        return real_weight(value, limit)

    real_weight = render_sizes.weight
    monkeypatch.setattr(render_sizes, "weight", counting_weight)
    monkeypatch.setattr(render_sandbox, "weight", counting_weight)
    text = renderer.render_spec(spec, context).body
    assert text == "【主动服务】鹤城机械有限公司：请于12月15日前申报13800000000 AB"
    assert walked == []


@pytest.mark.parametrize(("chars", "refused"), [(84, False), (85, True)])
def test_filter_inputs_near_the_cap_are_measured_exactly(chars: int, refused: bool) -> None:
    # truncate's inputs: the value, length 10 (3), killwords False (5), end (3), leeway None
    # (5) = value + 16, against a cap of 100; the quick bound (every default counted too)
    # passes the cap first, and the exact sum decides.
    renderer = TemplateRenderer(Catalog(), limits=RenderLimits(max_value_chars=100))
    spec = TemplateSpec("notice", "sandbox", "{{ x | truncate(length=10, end=e) }}", "x.j2")
    context = {"x": "a" * chars, "e": "..."}
    if refused:
        with pytest.raises(RenderError, match="过滤器 truncate 的输入长度超过上限 100"):
            renderer.render_spec(spec, context)
    else:
        assert renderer.render_spec(spec, context).body == "aaaaaaa..."


@pytest.mark.parametrize(
    ("name", "args", "kwargs", "within"),
    [
        ("upper", ("ab",), {}, True),
        ("replace", ("+8613800000000", "+86", ""), {}, True),
        ("replace", ("abc", "b", "bb"), {}, False),  # grows: its estimate counts the hits
        ("replace", ("abc", "", ""), {}, True),
        ("replace", (["a"], "a", ""), {}, False),  # not text: printed first, then replaced
        ("replace", ("abc", "b", ""), {"count": 1}, False),
        ("center", ("ab", 10), {}, False),
    ],
)
def test_which_filter_calls_skip_their_estimate(
    name: str, args: tuple[Any, ...], kwargs: dict[str, Any], within: bool
) -> None:
    assert render_sizes.estimate_within_inputs(name, args, kwargs) is within
