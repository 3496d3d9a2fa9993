"""The answer page's link: built under the public base URL, its token one the page accepts."""

from __future__ import annotations

from hub.knowledge.answer_links import TOKEN_PATTERN, answer_link, new_answer_token


def test_the_link_is_the_answer_page_under_the_public_base_url() -> None:
    assert answer_link("https://hub.example.cn/", "abcDEF123_-x") == (
        "https://hub.example.cn/a/abcDEF123_-x"
    )
    assert (
        answer_link("https://hub.example.cn/zw", "abcdefgh")
        == "https://hub.example.cn/zw/a/abcdefgh"
    )


def test_new_tokens_are_random_and_accepted_by_the_page() -> None:
    tokens = {new_answer_token() for _ in range(50)}
    assert len(tokens) == 50
    assert all(TOKEN_PATTERN.fullmatch(token) for token in tokens)
