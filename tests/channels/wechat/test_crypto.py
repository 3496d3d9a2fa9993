"""WXBizMsgCrypt equivalent: checked against the vectors Tencent publishes with its samples."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels.wechat.crypto import (
    BLOCK_SIZE,
    DecryptError,
    MalformedXmlError,
    ReceiverMismatchError,
    SignatureError,
    WechatCrypto,
    build_xml,
    decode_aes_key,
    decrypt,
    encrypt,
    parse_xml,
    pkcs7_pad,
    pkcs7_unpad,
    sign,
    signature_matches,
    xml_text,
)

# WeCom's WXBizMsgCrypt sample (Sample.py / Sample.php): token, key and CorpID as the docs set.
WECOM_TOKEN = "QDG6eK"
WECOM_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
WECOM_CORP = "wx5823bf96d3bd56c7"
WECOM_ENCRYPT = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3Qczc"
    "dCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjv"
    "d4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnv"
    "w2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22"
    "Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2"
    "uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
)
WECOM_BODY = (
    f"<xml><ToUserName><![CDATA[{WECOM_CORP}]]></ToUserName>"
    f"<Encrypt><![CDATA[{WECOM_ENCRYPT}]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>"
)
WECOM_ECHOSTR = (
    "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
)

# The Official Account platform's sample (safe mode), with its own token, key and AppID.
OA_TOKEN = "spamtest"
OA_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
OA_APPID = "wx2c2769f8efd9abc2"
OA_ENCRYPT = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6"
    "F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332"
    "jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgav"
    "jIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ"
    "4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
)


def test_the_wecom_sample_message_signature_is_the_published_one() -> None:
    signature = sign(WECOM_TOKEN, "1409659813", "1372623149", WECOM_ENCRYPT)
    assert signature == "477715d11cdb4164915debcba66cb864d751f3e6"


def test_the_wecom_sample_message_decrypts_to_the_published_text() -> None:
    crypto = WechatCrypto(WECOM_TOKEN, WECOM_KEY, WECOM_CORP)
    fields = crypto.decrypt_message(
        "477715d11cdb4164915debcba66cb864d751f3e6", "1409659813", "1372623149", WECOM_BODY
    )
    assert fields == {
        "ToUserName": WECOM_CORP,
        "FromUserName": "mycreate",
        "CreateTime": "1409659813",
        "MsgType": "text",
        "Content": "hello",
        "MsgId": "4561255354251345929",
        "AgentID": "218",
    }


def test_the_wecom_sample_url_verification_yields_the_echo() -> None:
    crypto = WechatCrypto(WECOM_TOKEN, WECOM_KEY, WECOM_CORP)
    echo = crypto.verify_url(
        "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", "1409659589", "263014780", WECOM_ECHOSTR
    )
    assert echo == "1616140317555161061"


def test_the_official_account_safe_mode_sample_verifies_and_decrypts() -> None:
    crypto = WechatCrypto(OA_TOKEN, OA_KEY, OA_APPID)
    message = crypto.open(
        "5d197aaffba7e9b25a30732f161a50dee96bd5fa", "1409735669", "1320562132", OA_ENCRYPT
    )
    fields = parse_xml(message)
    assert fields["FromUserName"] == "oyORnuP8q7ou2gfYjqLzSIWZf0rs"
    assert fields["Content"] == "abcdteT"
    assert fields["MsgId"] == "6054768590064713728"


def test_encryption_with_a_fixed_random_prefix_matches_the_published_ciphertext() -> None:
    # The Official Account sample's EncryptMsg case: random "aaaabbbbccccdddd", AppID below.
    sealed = encrypt(decode_aes_key(OA_KEY), "我是中文abcd123".encode(), "wxb11529c136998cb6",
                     random=b"aaaabbbbccccdddd")  # fmt: skip
    assert sealed == (
        "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
    )


def test_a_wrong_token_is_a_signature_error() -> None:
    crypto = WechatCrypto("another-token", WECOM_KEY, WECOM_CORP)
    with pytest.raises(SignatureError):
        crypto.open(
            "477715d11cdb4164915debcba66cb864d751f3e6", "1409659813", "1372623149", WECOM_ENCRYPT
        )


def test_a_message_for_another_receiver_is_refused() -> None:
    crypto = WechatCrypto(WECOM_TOKEN, WECOM_KEY, "wwsomeoneelse")
    with pytest.raises(ReceiverMismatchError) as caught:
        crypto.open(
            "477715d11cdb4164915debcba66cb864d751f3e6", "1409659813", "1372623149", WECOM_ENCRYPT
        )
    assert caught.value.found == WECOM_CORP


def test_a_ciphertext_under_another_key_does_not_open() -> None:
    other = WechatCrypto(WECOM_TOKEN, OA_KEY, WECOM_CORP)
    signature = sign(WECOM_TOKEN, "1", "2", WECOM_ENCRYPT)  # signed right, sealed for another key
    with pytest.raises(DecryptError):
        other.open(signature, "1", "2", WECOM_ENCRYPT)


def test_a_missing_signature_never_matches() -> None:
    assert not signature_matches(None, "a", "b")
    assert not signature_matches("", "a", "b")
    assert signature_matches(sign("b", "a").upper(), "a", "b")  # hex case does not matter


@pytest.mark.parametrize("length", [0, 1, 15, 16, 31, 32, 33, 63, 64])
def test_pkcs7_pads_to_32_byte_blocks(length: int) -> None:
    data = b"x" * length
    padded = pkcs7_pad(data)
    assert len(padded) % BLOCK_SIZE == 0
    assert len(padded) - length == BLOCK_SIZE - length % BLOCK_SIZE  # a full block when aligned
    assert pkcs7_unpad(padded) == data


def test_the_ciphertext_is_whole_32_byte_blocks() -> None:
    key = decode_aes_key(WECOM_KEY)
    for size in range(0, 70):
        raw = base64.b64decode(encrypt(key, b"m" * size, WECOM_CORP))
        assert len(raw) % BLOCK_SIZE == 0


@pytest.mark.parametrize(
    "padded", [b"a" * 31 + b"\x00", b"a" * 31 + b"\x21", b"a" * 30 + b"\x01\x02", b"", b"a" * 20]
)
def test_bad_padding_is_a_decrypt_error(padded: bytes) -> None:
    with pytest.raises(DecryptError):
        pkcs7_unpad(padded)


@pytest.mark.parametrize("key", ["short", OA_KEY + "A", "!" * 43])
def test_a_malformed_encoding_aes_key_is_refused(key: str) -> None:
    with pytest.raises(ValueError, match="EncodingAESKey"):
        decode_aes_key(key)


@given(message=st.binary(max_size=600), receive_id=st.text(min_size=1, max_size=40))
def test_encrypt_then_decrypt_gives_back_the_message_and_receiver(
    message: bytes, receive_id: str
) -> None:
    key = decode_aes_key(OA_KEY)
    assert decrypt(key, encrypt(key, message, receive_id)) == (message, receive_id)


def test_a_sealed_reply_envelope_opens_with_its_own_signature() -> None:
    crypto = WechatCrypto(OA_TOKEN, OA_KEY, OA_APPID)
    reply = build_xml({"ToUserName": "o1", "MsgType": "text", "Content": "已收到，谢谢"})
    envelope = parse_xml(crypto.encrypt_message(reply, "99", "1700000000"))
    opened = crypto.decrypt_message(
        xml_text(envelope, "MsgSignature"), "1700000000", "99", build_xml(envelope)
    )
    assert opened["Content"] == "已收到，谢谢"


def test_xml_round_trips_cdata_with_its_terminator_inside() -> None:
    document = build_xml({"Content": "a]]>b <&> 中文", "CreateTime": 1700000000})
    assert parse_xml(document) == {"Content": "a]]>b <&> 中文", "CreateTime": "1700000000"}


def test_repeated_and_nested_elements_are_kept() -> None:
    fields = parse_xml(
        "<xml><SelectedItems><SelectedItem><QuestionKey>q</QuestionKey><OptionIds>"
        "<OptionId>1</OptionId><OptionId>2</OptionId></OptionIds></SelectedItem>"
        "</SelectedItems></xml>"
    )
    assert fields["SelectedItems"]["SelectedItem"]["OptionIds"]["OptionId"] == ["1", "2"]
    assert xml_text(fields, "SelectedItems") == ""  # not a leaf


@pytest.mark.parametrize(
    "body",
    [
        b"not xml",
        b"<html><body/></html>",
        b'<!DOCTYPE xml [<!ENTITY a "aaaa">]><xml><Content>&a;</Content></xml>',
        b"<xml><Content>unclosed</xml>",
    ],
)
def test_anything_but_wechat_xml_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedXmlError):
        parse_xml(body)


def test_an_encrypted_body_without_encrypt_is_malformed() -> None:
    crypto = WechatCrypto(OA_TOKEN, OA_KEY, OA_APPID)
    with pytest.raises(MalformedXmlError):
        crypto.decrypt_message("0" * 40, "1", "2", "<xml><ToUserName>x</ToUserName></xml>")
