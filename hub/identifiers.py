"""Identifiers of enterprises and people: normalisation for import, masking for logs and exports.

``normalize_*`` return the one stored spelling of an identifier or raise ``ValueError`` whose
message is a Chinese reason written to follow the quoted value in a clerk-facing sentence:
``手机“1380013800”`` + ``不是有效的手机号``.

``mask_*`` and the structlog processor ``mask_personal_data`` keep contact numbers and IDs out
of logs and exports (PIPL, DESIGN.md "Personal data"); they never raise, whatever they are given.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, MutableMapping
from typing import Any

import phonenumbers
from phonenumbers import PhoneNumber, PhoneNumberType
from stdnum.cn import uscc as stdnum_uscc
from stdnum.exceptions import InvalidChecksum, InvalidLength, ValidationError

__all__ = [
    "mask_id",
    "mask_mobile",
    "mask_personal_data",
    "mask_text",
    "mask_uscc",
    "normalize_mobile",
    "normalize_openid",
    "normalize_telegram_chat_id",
    "normalize_uscc",
    "normalize_wecom_userid",
]

_WHITESPACE = re.compile(r"\s+")
# Excel turns long digit strings into "1.38001E+10" when a clerk saves a CSV from a numeric
# column; the digits are gone, so the only useful answer is to tell them why.
_SCIENTIFIC = re.compile(r"^\d(?:\.\d+)?E\+?\d+$", re.IGNORECASE)
_SCIENTIFIC_HINT = "（疑似被 Excel 转成了科学计数法，请把该列设为“文本”后重新填写）"
# Characters people put in phone numbers; anything else (letters, "转", "/") means the cell
# holds something other than one number, and phonenumbers would silently ignore the tail.
_PHONE_CHARS = re.compile(r"^[+\d\s\-().]+$")
_CN_MOBILE_TYPES = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)
# 1xxxxxxxxxx with an optional +86 / 86 / 0086: nearly every cell a clerk fills in. Building
# the number directly takes a third of phonenumbers.parse's time (measured: 1.3 s instead of
# 4.0 s per 100,000); anything else goes through phonenumbers.parse.
_CN_MOBILE_SHAPE = re.compile(r"^(?:\+86|0086|86)?(1\d{10})$")
_SEPARATORS = re.compile(r"[\s\-().]")


def _clean(text: str) -> str:
    """NFKC (full-width ＡＢ１２ typed by Chinese IMEs become ASCII) and strip."""
    return unicodedata.normalize("NFKC", text).strip()


def normalize_uscc(text: str) -> str:
    """Return the 18-character 统一社会信用代码 in upper case, or raise ``ValueError``.

    Spaces and hyphens are removed and letters upper-cased before ``stdnum.cn.uscc`` checks
    the length, the alphabet and the check character (GB 32100-2015).
    """
    compact = _WHITESPACE.sub("", _clean(text)).replace("-", "").upper()
    if _SCIENTIFIC.match(compact):
        raise ValueError("不是有效的统一社会信用代码" + _SCIENTIFIC_HINT)
    try:
        return str(stdnum_uscc.validate(compact))
    except InvalidLength as exc:
        raise ValueError(f"长度应为 18 位，实为 {len(compact)} 位") from exc
    except InvalidChecksum as exc:
        raise ValueError("校验位错误") from exc
    except ValidationError as exc:
        raise ValueError(
            "格式错误：前 8 位应为数字，其后为数字或大写字母（不含 I、O、S、V、Z）"
        ) from exc


def normalize_mobile(text: str) -> str:
    """Return a mainland-China mobile number in E.164 (``+8613800138000``) or raise ``ValueError``.

    Accepts ``+86 138 0013 8000``, ``8613800138000``, ``008613800138000``, ``138-0013-8000``
    and bare 11 digits. Landlines and other countries' numbers are refused: the hub's SMS
    templates are approved for mainland numbers only.
    """
    cleaned = _clean(text)
    if _SCIENTIFIC.match(cleaned):
        raise ValueError("不是有效的手机号" + _SCIENTIFIC_HINT)
    if not _PHONE_CHARS.match(cleaned):
        raise ValueError("不是有效的手机号（含有文字或其他符号，一格只能填一个号码）")
    national = _CN_MOBILE_SHAPE.match(_SEPARATORS.sub("", cleaned))
    if national:
        # The usual spellings need no general parser; the number plan is still phonenumbers'.
        number = PhoneNumber(country_code=86, national_number=int(national.group(1)))
    else:
        try:
            number = phonenumbers.parse(cleaned, "CN")
        except phonenumbers.NumberParseException as exc:
            raise ValueError("不是有效的手机号") from exc
    if number.country_code != 86:
        valid = phonenumbers.is_valid_number(number)
        raise ValueError("不是中国大陆手机号" if valid else "不是有效的手机号")
    # For +86 (one region) a known type is exactly what is_valid_number() tests.
    kind = phonenumbers.number_type(number)
    if kind == PhoneNumberType.UNKNOWN:
        raise ValueError("不是有效的手机号")
    if kind == PhoneNumberType.FIXED_LINE:
        raise ValueError("是固定电话，不是手机号")
    if kind not in _CN_MOBILE_TYPES:
        raise ValueError("不是手机号")  # 400/800 service numbers, VoIP, ...
    return f"+86{number.national_number}"


# WeChat openids are 28 URL-safe base64 characters today; allow some slack in length but not
# in alphabet, so that a name or a mobile pasted into the wrong column is caught.
_OPENID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
# WeCom: "1~64 个字节，只能由数字、字母和“_-@.”组成".
_WECOM_USERID = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
# Telegram chat ids are signed 64-bit integers (groups are negative).
_TELEGRAM_CHAT_ID = re.compile(r"^-?\d{1,19}$")


def normalize_openid(text: str) -> str:
    """Return a WeChat Official Account openid as written, or raise ``ValueError``."""
    cleaned = _clean(text)
    if not _OPENID.match(cleaned):
        raise ValueError("不是有效的微信 openid（16–64 位字母、数字、_ 或 -）")
    return cleaned


def normalize_wecom_userid(text: str) -> str:
    """Return a WeCom userid as written, or raise ``ValueError``."""
    cleaned = _clean(text)
    if not _WECOM_USERID.match(cleaned):
        raise ValueError("不是有效的企业微信账号（1–64 位字母、数字或 _-@.）")
    return cleaned


def normalize_telegram_chat_id(text: str) -> str:
    """Return a Telegram chat id as a decimal string, or raise ``ValueError``."""
    cleaned = _clean(text)
    if not _TELEGRAM_CHAT_ID.match(cleaned):
        raise ValueError("不是有效的 Telegram chat id（应为整数）")
    return str(int(cleaned))


# --- masking -----------------------------------------------------------------------------

_STARS = "****"  # a fixed width, so the mask does not reveal the length either


def mask_mobile(value: object) -> str:
    """Mask the middle digits: ``+8613800138000`` → ``+86138****8000``, ``138****8000``."""
    text = str(value).strip()
    if len(text) >= 11:
        return text[:-8] + _STARS + text[-4:]
    if len(text) >= 7:
        return text[:2] + _STARS + text[-2:]
    return _STARS


def mask_uscc(value: object) -> str:
    """Mask the organisation code of a 统一社会信用代码: ``911100********341L``."""
    text = str(value).strip()
    if len(text) == 18:
        return text[:6] + "*" * 8 + text[-4:]
    return mask_id(text)


def mask_id(value: object) -> str:
    """Mask an openid, WeCom userid or chat id, keeping only enough to tell two apart."""
    text = str(value).strip()
    if len(text) >= 12:
        return text[:4] + _STARS + text[-4:]
    if len(text) >= 6:
        return text[:2] + _STARS + text[-2:]
    return _STARS


# A mainland mobile inside free text, optionally with +86/0086/86 and 3-4-4 separators. The
# look-arounds keep it from biting into longer digit runs (order numbers, USCCs, timestamps);
# they name ASCII classes because \w would also match the Chinese text around a number.
_MOBILE_IN_TEXT = re.compile(
    r"(?<![0-9A-Za-z+])(?:(?:\+86|0086|86)[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?![0-9])"
)


def _mask_mobile_match(match: re.Match[str]) -> str:
    found = match.group(0)
    digits = re.sub(r"\D", "", found)
    prefix, local = digits[:-11], digits[-11:]
    return (
        ("+" if found.lstrip().startswith("+") else "") + prefix + local[:3] + _STARS + local[-4:]
    )


def mask_text(text: str) -> str:
    """Mask every mainland mobile number found inside free text."""
    return _MOBILE_IN_TEXT.sub(_mask_mobile_match, text)


def _mask_recipient(value: object) -> str:
    text = str(value)
    return mask_mobile(text) if _MOBILE_IN_TEXT.fullmatch(text.strip()) else mask_id(text)


# Matched against the end of a lower-cased key, so ``head_mobile``, ``contact_phone``,
# ``wechat_openid`` and ``telegram_chat_id`` are covered without listing each one.
_KEY_SUFFIX_MASKS: tuple[tuple[str, Callable[[object], str]], ...] = (
    ("mobile", mask_mobile),
    ("phone", mask_mobile),
    ("uscc", mask_uscc),
    ("openid", mask_id),
    ("userid", mask_id),
    ("user_id", mask_id),
    ("chat_id", mask_id),
    ("chatid", mask_id),
)
_KEY_EXACT_MASKS: dict[str, Callable[[object], str]] = {
    "to": _mask_recipient,
    "recipient": _mask_recipient,
    "recipients": _mask_recipient,
}


def _masker_for(key: str) -> Callable[[object], str] | None:
    lowered = key.lower()
    exact = _KEY_EXACT_MASKS.get(lowered)
    if exact is not None:
        return exact
    for suffix, masker in _KEY_SUFFIX_MASKS:
        if lowered.endswith(suffix):
            return masker
    return None


def _mask_value(value: Any, masker: Callable[[object], str] | None, depth: int) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if depth > 4:  # log payloads are shallow; a deep structure is not worth the time
        return value
    if isinstance(value, str):
        return masker(value) if masker is not None else mask_text(value)
    if isinstance(value, int | float):
        return masker(value) if masker is not None else value
    if isinstance(value, dict):
        return {
            k: _mask_value(v, _masker_for(str(k)) or masker, depth + 1) for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_mask_value(v, masker, depth + 1) for v in value]
    return value


def mask_personal_data(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask contact numbers and IDs before anything is rendered.

    Values under personal keys (``mobile``, ``phone``, ``uscc``, ``openid``, ``userid``,
    ``chat_id`` and names ending so, ``to``/``recipient``) are masked by kind, nested dicts and
    lists included; mobile numbers inside any other string (the event text, a formatted
    exception) are masked too. Put it after ``format_exc_info`` and before the renderer.
    """
    for key, value in event_dict.items():
        event_dict[key] = _mask_value(value, _masker_for(key), 0)
    return event_dict
