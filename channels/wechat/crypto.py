"""WeChat / WeCom callback crypto: the published ``WXBizMsgCrypt`` scheme, pure functions.

Both the Official Account platform (安全模式) and WeCom apps use the same scheme:

- signature: ``sha1`` of the sorted concatenation of ``token``, ``timestamp``, ``nonce`` (and, for
  an encrypted body or echostr, the ``Encrypt`` text), hex lower case;
- the key: ``base64(EncodingAESKey + "=")`` gives 32 bytes; AES-256-CBC with the first 16 key
  bytes as the IV;
- the plaintext: ``random(16) + len(msg) as 4 bytes big-endian + msg + receive_id``, padded
  with PKCS#7 to a multiple of **32** bytes (not AES's 16), where ``receive_id`` is the Official
  Account's AppID or the WeCom CorpID. A message whose trailer is another id was meant for
  someone else and is refused.

Also here: reading and writing the small flat XML documents both platforms speak. Nothing in this
module does I/O; :class:`WechatCrypto` is the ``WXBizMsgCrypt`` equivalent (``verify_url``,
``decrypt_message``, ``encrypt_message``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, NoReturn
from xml.parsers import expat

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from hub.core.errors import HubError

__all__ = [
    "BLOCK_SIZE",
    "MAX_XML_DEPTH",
    "DecryptError",
    "MalformedXmlError",
    "ReceiverMismatchError",
    "SignatureError",
    "WechatCrypto",
    "WechatCryptoError",
    "build_xml",
    "decode_aes_key",
    "decrypt",
    "encrypt",
    "parse_xml",
    "pkcs7_pad",
    "pkcs7_unpad",
    "sign",
    "signature_matches",
    "xml_text",
    "xml_time",
]

BLOCK_SIZE: Final = 32  # WXBizMsgCrypt pads to 32-byte blocks
_RANDOM_LEN: Final = 16
_LEN_FIELD: Final = struct.Struct(">I")


class WechatCryptoError(HubError):
    """A callback could not be verified or opened."""


class SignatureError(WechatCryptoError):
    """The signature is missing or does not match (wrong token, forged or altered request)."""


class DecryptError(WechatCryptoError):
    """The ciphertext does not open with our EncodingAESKey (bad base64, padding or length)."""


class ReceiverMismatchError(WechatCryptoError):
    """The message opened but names another AppID / CorpID in its trailer."""

    def __init__(self, expected: str, found: str) -> None:
        self.expected = expected
        self.found = found
        super().__init__(f"消息接收方不符 (receive_id): 期望 {expected!r}, 实际 {found!r}")


class MalformedXmlError(WechatCryptoError):
    """The body is not the XML document WeChat sends."""


# --- signature ---------------------------------------------------------------------------------


def sign(*parts: str) -> str:
    """``sha1(''.join(sorted(parts)))`` hex: the callback signature over token, timestamp, ..."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def signature_matches(given: str | None, *parts: str) -> bool:
    """Whether ``given`` is the signature of ``parts`` (constant-time, case-insensitive hex)."""
    if not given:
        return False
    return hmac.compare_digest(sign(*parts).encode(), given.strip().lower().encode())


# --- AES ---------------------------------------------------------------------------------------


def decode_aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key from the 43-character EncodingAESKey; ``ValueError`` if it is not one."""
    if len(encoding_aes_key) != 43:
        raise ValueError("EncodingAESKey 必须是 43 个字符 (encoding_aes_key)")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error as exc:
        raise ValueError("EncodingAESKey 不是有效的 Base64 (encoding_aes_key)") from exc
    if len(key) != 32:
        raise ValueError("EncodingAESKey 解码后必须是 32 字节 (encoding_aes_key)")
    return key


def pkcs7_pad(data: bytes, block_size: int = BLOCK_SIZE) -> bytes:
    """PKCS#7 padding to a multiple of ``block_size`` (1..``block_size`` bytes always added)."""
    amount = block_size - len(data) % block_size
    return data + bytes([amount]) * amount


def pkcs7_unpad(data: bytes, block_size: int = BLOCK_SIZE) -> bytes:
    """Remove PKCS#7 padding; :class:`DecryptError` when it is not valid padding."""
    if not data or len(data) % 16:
        raise DecryptError("密文长度无效 (not a whole number of AES blocks)")
    amount = data[-1]
    if not 1 <= amount <= block_size or data[-amount:] != bytes([amount]) * amount:
        raise DecryptError("填充无效 (PKCS#7 padding)")
    return data[:-amount]


def _cipher(key: bytes) -> Cipher[modes.CBC]:
    return Cipher(algorithms.AES(key), modes.CBC(key[:16]))


def encrypt(key: bytes, message: bytes, receive_id: str, *, random: bytes | None = None) -> str:
    """Base64 ciphertext of ``message`` for ``receive_id`` (``random``: 16 bytes, for tests)."""
    prefix = os.urandom(_RANDOM_LEN) if random is None else random
    if len(prefix) != _RANDOM_LEN:
        raise ValueError("random must be 16 bytes")
    plain = prefix + _LEN_FIELD.pack(len(message)) + message + receive_id.encode("utf-8")
    encryptor = _cipher(key).encryptor()
    sealed = encryptor.update(pkcs7_pad(plain)) + encryptor.finalize()
    return base64.b64encode(sealed).decode("ascii")


def decrypt(key: bytes, ciphertext: str) -> tuple[bytes, str]:
    """Open a base64 ciphertext: ``(message, receive_id)``; :class:`DecryptError` otherwise."""
    try:
        sealed = base64.b64decode(ciphertext, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DecryptError("密文不是有效的 Base64") from exc
    if not sealed or len(sealed) % 16:
        raise DecryptError("密文长度无效 (not a whole number of AES blocks)")
    decryptor = _cipher(key).decryptor()
    plain = pkcs7_unpad(decryptor.update(sealed) + decryptor.finalize())
    if len(plain) < _RANDOM_LEN + _LEN_FIELD.size:
        raise DecryptError("明文过短 (plaintext too short)")
    (length,) = _LEN_FIELD.unpack_from(plain, _RANDOM_LEN)
    start = _RANDOM_LEN + _LEN_FIELD.size
    if length > len(plain) - start:
        raise DecryptError("消息长度字段无效 (msg_len)")
    message = plain[start : start + length]
    try:
        receive_id = plain[start + length :].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecryptError("接收方 ID 不是 UTF-8 (receive_id)") from exc
    return message, receive_id


# --- XML ---------------------------------------------------------------------------------------


def parse_xml(body: bytes | str) -> dict[str, Any]:
    """The children of a ``<xml>`` document: leaf text as ``str``, nested elements as dicts.

    A tag that repeats becomes a list (WeCom's ``SelectedItems``/``OptionIds``). Raises
    :class:`MalformedXmlError` for anything that is not such a document: this parses bodies
    before their signature is known (an encrypted callback's outer envelope), so it builds no
    tree it has not bounded — nesting deeper than :data:`MAX_XML_DEPTH` is refused as it is
    met, and a DOCTYPE or entity declaration (in any encoding) is refused before it is used.
    """
    builder = _FieldsBuilder()
    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_declarations
    parser.EntityDeclHandler = _refuse_declarations
    parser.ExternalEntityRefHandler = _refuse_declarations
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.text
    try:
        parser.Parse(body.encode("utf-8") if isinstance(body, str) else body, True)
    except expat.ExpatError as exc:
        raise MalformedXmlError(f"XML 无法解析: {exc}") from exc
    return builder.fields()


# WeChat's documents are flat; WeCom's deepest is xml/SelectedItems/SelectedItem/OptionIds/OptionId.
MAX_XML_DEPTH: Final = 8


def _refuse_declarations(*_: object) -> NoReturn:
    raise MalformedXmlError("XML 中不允许 DOCTYPE/ENTITY")


class _FieldsBuilder:
    """Expat handlers that build :func:`parse_xml`'s dict with an explicit stack (no recursion)."""

    def __init__(self) -> None:
        self._root: tuple[str, dict[str, Any] | str] | None = None
        # One (tag, children, text) per open element, the innermost last.
        self._open: list[tuple[str, dict[str, Any], list[str]]] = []

    def start(self, tag: str, _attributes: dict[str, str]) -> None:
        if not self._open and (self._root is not None or tag != "xml"):
            raise MalformedXmlError(f"根元素应为 <xml>，实际为 <{tag}>")
        if len(self._open) >= MAX_XML_DEPTH:
            raise MalformedXmlError(f"XML 嵌套超过 {MAX_XML_DEPTH} 层 (nesting too deep)")
        self._open.append((tag, {}, []))

    def text(self, data: str) -> None:
        if not self._open:
            return  # whitespace around the root
        _tag, children, text = self._open[-1]
        if not children:  # a leaf's text; text between children is layout
            text.append(data)

    def end(self, _tag: str) -> None:
        tag, children, text = self._open.pop()
        value: dict[str, Any] | str = children if children else "".join(text)
        if not self._open:
            self._root = (tag, value)
            return
        siblings = self._open[-1][1]
        if tag in siblings:
            earlier = siblings[tag]
            siblings[tag] = [*earlier, value] if isinstance(earlier, list) else [earlier, value]
        else:
            siblings[tag] = value

    def fields(self) -> dict[str, Any]:
        if self._root is None:
            raise MalformedXmlError("XML 为空")
        value = self._root[1]
        return value if isinstance(value, dict) else {}


def xml_text(fields: Mapping[str, Any], name: str) -> str:
    """A leaf field's text, stripped; ``""`` when absent or not a leaf."""
    value = fields.get(name)
    return value.strip() if isinstance(value, str) else ""


def xml_time(fields: Mapping[str, Any], name: str) -> datetime | None:
    """A leaf field holding epoch seconds (``CreateTime``) as a UTC time; ``None`` when absent.

    :class:`MalformedXmlError` unless it is 1 to 10 ASCII digits: ``str.isdigit`` would take
    ``²`` (which ``int`` refuses), and a huge number overflows ``datetime``.
    """
    text = xml_text(fields, name)
    if not text:
        return None
    if len(text) > 10 or not text.isascii() or not text.isdigit():
        raise MalformedXmlError(f"{name} 应为 Unix 秒数 ({name})")
    return datetime.fromtimestamp(int(text), UTC)


def build_xml(fields: Mapping[str, str | int]) -> str:
    """A flat ``<xml>`` document as WeChat writes it: text in CDATA, integers bare."""
    parts = ["<xml>"]
    for name, value in fields.items():
        if isinstance(value, int):
            parts.append(f"<{name}>{value}</{name}>")
        else:
            # "]]>" cannot appear inside one CDATA section: split it across two.
            text = value.replace("]]>", "]]]]><![CDATA[>")
            parts.append(f"<{name}><![CDATA[{text}]]></{name}>")
    parts.append("</xml>")
    return "".join(parts)


# --- WXBizMsgCrypt -----------------------------------------------------------------------------


class WechatCrypto:
    """``WXBizMsgCrypt``: verify and open callbacks for one app, and seal replies.

    ``receive_id`` is the Official Account's AppID or the WeCom CorpID: every message opened is
    checked to carry it in its trailer.
    """

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str) -> None:
        self.token = token
        self.receive_id = receive_id
        self._key = decode_aes_key(encoding_aes_key)

    def open(self, msg_signature: str | None, timestamp: str, nonce: str, encrypted: str) -> bytes:
        """Check the signature over the ciphertext, decrypt, check the receiver; the plaintext."""
        if not signature_matches(msg_signature, self.token, timestamp, nonce, encrypted):
            raise SignatureError("消息签名不符 (msg_signature)")
        message, receive_id = decrypt(self._key, encrypted)
        if not hmac.compare_digest(receive_id.encode(), self.receive_id.encode()):
            raise ReceiverMismatchError(self.receive_id, receive_id)
        return message

    def verify_url(
        self, msg_signature: str | None, timestamp: str, nonce: str, echostr: str
    ) -> str:
        """WeCom's URL check: the decrypted ``echostr`` to echo back as the response body."""
        return self.open(msg_signature, timestamp, nonce, echostr).decode("utf-8")

    def decrypt_message(
        self, msg_signature: str | None, timestamp: str, nonce: str, body: bytes | str
    ) -> dict[str, Any]:
        """Verify and open an encrypted POST body; the inner message's fields."""
        encrypted = xml_text(parse_xml(body), "Encrypt")
        if not encrypted:
            raise MalformedXmlError("缺少 Encrypt 字段")
        return parse_xml(self.open(msg_signature, timestamp, nonce, encrypted))

    def seal(self, message: bytes, *, random: bytes | None = None) -> str:
        """Encrypt ``message`` for this app's ``receive_id`` (base64)."""
        return encrypt(self._key, message, self.receive_id, random=random)

    def encrypt_message(
        self, reply_xml: str, nonce: str, timestamp: str, *, random: bytes | None = None
    ) -> str:
        """The encrypted envelope of a passive reply (``Encrypt``, ``MsgSignature``, ...)."""
        encrypted = self.seal(reply_xml.encode("utf-8"), random=random)
        return build_xml(
            {
                "Encrypt": encrypted,
                "MsgSignature": sign(self.token, timestamp, nonce, encrypted),
                "TimeStamp": timestamp,
                "Nonce": nonce,
            }
        )
