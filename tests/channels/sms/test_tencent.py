"""Tencent SMS, the pure core: TC3 against Tencent's published example, the error-code table,
request planning and answer parsing. No sockets here (see test_tencent_fake.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from channels.base import (
    ChannelError,
    HoldError,
    OptedOutError,
    OutboundMessage,
    PermanentError,
    ProviderConfigError,
    RateLimitedError,
    RetryableError,
    SendResult,
)
from channels.sms.settings import TencentSmsSettings
from channels.sms.tencent import (
    CONTENT_TYPE,
    MAX_NUMBERS,
    build_request,
    classify_error,
    parse_response,
    plan_requests,
)
from channels.sms.tencent_tc3 import (
    authorization,
    canonical_headers,
    canonical_request,
    string_to_sign,
    tc3_signature,
    utc_date,
    verify,
)
from hub.core.clock import SHANGHAI

SECRET_ID = "AKIDtest0000000000000000000000000000"
SECRET_KEY = "test-secret-key"
APP_ID = "1400000000"
# Monday 2026-11-23 10:00 in Beijing, the conftest clock.
TEN_AM = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def message(
    i: int, *, params: dict[str, object] | None = None, address: str = ""
) -> OutboundMessage:
    return OutboundMessage(
        message_id=i,
        address=address or f"+861380000{i:04d}",
        body=f"甲机械{i}：请于月底前完成年报公示",
        kind="notice",
        params={"sms_template_id": "1000103"} if params is None else params,
    )


def config(endpoint: str = "https://sms.tencentcloudapi.com") -> TencentSmsSettings:
    return TencentSmsSettings(secret_id=SECRET_ID, secret_key=SECRET_KEY, sdk_app_id=APP_ID,
                              sign_name="主动服务", endpoint=endpoint)  # fmt: skip


# --- TC3: Tencent's published example ("签名方法 v3", CVM DescribeInstances) -------------------

DOC_SECRET_ID = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"
DOC_SECRET_KEY = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"
DOC_TIMESTAMP = 1551113065
DOC_PAYLOAD = (
    b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
)
DOC_HEADERS = "content-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n"
DOC_SIGNATURE = "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
DOC_AUTHORIZATION = (
    "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, "
    f"SignedHeaders=content-type;host, Signature={DOC_SIGNATURE}"
)


def test_every_step_matches_tencents_published_example() -> None:
    canonical = canonical_request(canonical_headers=DOC_HEADERS, payload=DOC_PAYLOAD)
    assert canonical == (
        "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n"
        "\ncontent-type;host\n35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
    )
    assert string_to_sign(DOC_TIMESTAMP, "cvm", canonical) == (
        "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n"
        "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
    )
    signature = tc3_signature(
        DOC_SECRET_KEY,
        service="cvm",
        timestamp=DOC_TIMESTAMP,
        canonical_headers=DOC_HEADERS,
        payload=DOC_PAYLOAD,
    )
    assert signature == DOC_SIGNATURE
    assert (
        authorization(DOC_SECRET_ID, signature, service="cvm", timestamp=DOC_TIMESTAMP)
        == DOC_AUTHORIZATION
    )


def test_the_verifier_accepts_the_published_request_and_refuses_it_altered() -> None:
    headers = {
        "Authorization": DOC_AUTHORIZATION,
        "Content-Type": "application/json; charset=utf-8",
        "Host": "cvm.tencentcloudapi.com",
        "X-TC-Action": "DescribeInstances",
        "X-TC-Timestamp": "1551113065",
        "X-TC-Version": "2017-03-12",
        "X-TC-Region": "ap-guangzhou",
    }
    check = {"secret_id": DOC_SECRET_ID, "secret_key": DOC_SECRET_KEY, "service": "cvm"}
    assert verify(headers, DOC_PAYLOAD, now=DOC_TIMESTAMP + 299, **check) is None
    assert verify(headers, DOC_PAYLOAD, now=DOC_TIMESTAMP + 301, **check) == (
        "AuthFailure.SignatureExpire"
    )
    altered = DOC_PAYLOAD.replace(b'"Limit": 1', b'"Limit": 2')
    assert verify(headers, altered, now=DOC_TIMESTAMP, **check) == "AuthFailure.SignatureFailure"
    # Sent without the charset it was signed with: what was sent is not what was signed.
    relabelled = {**headers, "Content-Type": "application/json"}
    assert verify(relabelled, DOC_PAYLOAD, now=DOC_TIMESTAMP, **check) == (
        "AuthFailure.SignatureFailure"
    )
    wrong_key = {**check, "secret_key": "guessed"}
    assert verify(headers, DOC_PAYLOAD, now=DOC_TIMESTAMP, **wrong_key) == (
        "AuthFailure.SignatureFailure"
    )
    other_id = {**check, "secret_id": "AKIDother"}
    assert verify(headers, DOC_PAYLOAD, now=DOC_TIMESTAMP, **other_id) == (
        "AuthFailure.SecretIdNotFound"
    )
    assert verify({}, DOC_PAYLOAD, now=DOC_TIMESTAMP, **check) == "AuthFailure.InvalidAuthorization"


def test_the_credential_date_is_the_utc_date_of_the_timestamp() -> None:
    # 1551113065 is 2019-02-26 00:44:25 in Beijing but still 2019-02-25 in UTC.
    assert utc_date(1551113065) == "2019-02-25"
    early = datetime(2026, 11, 24, 0, 30, tzinfo=SHANGHAI)
    headers, _ = build_request([message(1)], config(), early)
    assert "/2026-11-23/sms/tc3_request," in headers["Authorization"]


def test_the_request_signs_exactly_the_headers_and_body_it_sends() -> None:
    headers, body = build_request([message(1)], config("http://127.0.0.1:8080"), TEN_AM)
    assert headers["Content-Type"] == CONTENT_TYPE == "application/json; charset=utf-8"
    assert headers["Host"] == "127.0.0.1:8080"
    assert headers["X-TC-Action"] == "SendSms"
    assert headers["X-TC-Version"] == "2021-01-11"
    assert headers["X-TC-Timestamp"] == str(int(TEN_AM.timestamp()))
    assert json.loads(body) == {
        "PhoneNumberSet": ["+8613800000001"],
        "SmsSdkAppId": APP_ID,
        "SignName": "主动服务",
        "TemplateId": "1000103",
        "TemplateParamSet": ["甲机械1：请于月底前完成年报公示"],
        "SessionContext": "1",  # the message id, echoed in Tencent's status records
    }
    expected = tc3_signature(
        SECRET_KEY,
        service="sms",
        timestamp=int(TEN_AM.timestamp()),
        canonical_headers=canonical_headers({k: headers[k] for k in ("Content-Type", "Host")}),
        payload=body,
    )
    assert headers["Authorization"].endswith(f"Signature={expected}")
    check = {"secret_id": SECRET_ID, "secret_key": SECRET_KEY, "service": "sms"}
    assert verify(headers, body, now=TEN_AM.timestamp(), **check) is None


def test_template_params_go_in_the_templates_declared_order() -> None:
    rendered = {"names": ["name", "deadline"], "values": ["甲机械", "12月15日"],
                "template_ids": {"tencent": "2000201", "aliyun": "SMS_1"}}  # fmt: skip
    _, body = build_request([message(1, params=rendered)], config(), TEN_AM)
    sent = json.loads(body)
    assert (sent["TemplateId"], sent["TemplateParamSet"]) == ("2000201", ["甲机械", "12月15日"])


# --- the error-code table -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "kind", "retry_after"),
    [
        # Per-number limits: retry that number when its window ends.
        ("LimitExceeded.PhoneNumberThirtySecondLimit", RateLimitedError, 30.0),
        ("LimitExceeded.PhoneNumberOneHourLimit", RateLimitedError, 3600.0),
        ("LimitExceeded.PhoneNumberDailyLimit", RateLimitedError, 14 * 3600.0),  # midnight
        ("LimitExceeded.PhoneNumberSameContentDailyLimit", RateLimitedError, 14 * 3600.0),
        ("LimitExceeded.AppDailyLimit", RateLimitedError, 14 * 3600.0),
        ("LimitExceeded.DeliveryFrequencyLimit", RateLimitedError, 60.0),
        ("LimitExceeded.SomethingNew", RateLimitedError, 60.0),
        ("RequestLimitExceeded", RateLimitedError, 1.0),
        ("RequestLimitExceeded.UinLimitExceeded", RateLimitedError, 1.0),
        ("InternalError", RetryableError, None),
        ("InternalError.Timeout", RetryableError, None),
        ("AuthFailure.SignatureExpire", RetryableError, None),
        ("FailedOperation.PhoneNumberInBlacklist", OptedOutError, None),
        ("FailedOperation.TemplateIncorrectOrUnapproved", ProviderConfigError, None),
        ("FailedOperation.SignatureIncorrectOrUnapproved", ProviderConfigError, None),
        ("FailedOperation.TemplateParamSetNotMatchApprovedTemplate", ProviderConfigError, None),
        ("InvalidParameterValue.TemplateParameterFormatError", ProviderConfigError, None),
        ("FailedOperation.InsufficientBalanceInSmsPackage", ProviderConfigError, None),
        ("AuthFailure.SignatureFailure", ProviderConfigError, None),
        ("AuthFailure.SecretIdNotFound", ProviderConfigError, None),
        ("UnauthorizedOperation.SmsSdkAppIdVerifyFail", ProviderConfigError, None),
        ("UnauthorizedOperation.ServiceSuspendDueToArrears", ProviderConfigError, None),
        ("FailedOperation.MarketingSendTimeConstraint", HoldError, None),
        ("InvalidParameterValue.IncorrectPhoneNumber", PermanentError, None),
        ("FailedOperation.ContainSensitiveWord", PermanentError, None),
        ("LimitExceeded.PhoneNumberCountLimit", PermanentError, None),  # our bug, not a quota
        ("SomethingUnheardOf", PermanentError, None),
    ],
)
def test_each_provider_code_maps_to_its_error_kind(
    code: str, kind: type[ChannelError], retry_after: float | None
) -> None:
    error = classify_error(code, "provider text", TEN_AM)
    assert type(error) is kind
    assert error.code == code
    assert f"（{code}）" in str(error)
    if isinstance(error, RetryableError):
        assert error.retry_after == retry_after


@pytest.mark.parametrize(
    ("local", "opens"),
    [
        (datetime(2026, 11, 23, 22, 30, tzinfo=SHANGHAI), datetime(2026, 11, 24, 8, 0)),
        (datetime(2026, 11, 24, 6, 0, tzinfo=SHANGHAI), datetime(2026, 11, 24, 8, 0)),
    ],
)
def test_the_marketing_window_holds_until_eight_in_beijing(
    local: datetime, opens: datetime
) -> None:
    held = classify_error("FailedOperation.MarketingSendTimeConstraint", "", local)
    assert isinstance(held, HoldError)
    assert held.until == opens.replace(tzinfo=SHANGHAI)


def test_the_daily_limit_waits_for_midnight_in_beijing_not_in_utc() -> None:
    # 07:30 UTC is 15:30 in Beijing: 8.5 hours to the provider's new day, not 16.5.
    at = datetime(2026, 11, 23, 7, 30, tzinfo=UTC)
    limited = classify_error("LimitExceeded.PhoneNumberDailyLimit", "", at)
    assert isinstance(limited, RetryableError)
    assert limited.retry_after == 8.5 * 3600


# --- planning -----------------------------------------------------------------------------

SAME = {"sms_template_id": "1000103", "sms_params": ["2026年度奖补", "12月15日"]}


def test_identical_parameters_share_requests_of_at_most_200_numbers() -> None:
    batch = [message(i, params=SAME) for i in range(450)]
    requests, refused = plan_requests(batch, {})
    assert refused == {}
    assert [len(r.messages) for r in requests] == [MAX_NUMBERS, MAX_NUMBERS, 50]
    assert sorted(p for r in requests for p in r.positions) == list(range(450))


def test_a_number_twice_in_one_batch_goes_in_another_request() -> None:
    twice = [message(1, params=SAME), message(2, params=SAME), message(3, params=SAME,
             address="+8613800000001")]  # fmt: skip
    requests, _ = plan_requests(twice, {})
    assert [r.positions for r in requests] == [(0, 1), (2,)]


def test_different_parameters_or_templates_never_share_a_request() -> None:
    other = {**SAME, "sms_template_id": "1000104"}
    batch = [message(1), message(2), message(3, params=SAME), message(4, params=other)]
    requests, _ = plan_requests(batch, {})
    assert sorted(r.positions for r in requests) == [(0,), (1,), (2,), (3,)]


def test_a_message_without_a_template_id_fails_before_sending() -> None:
    requests, refused = plan_requests([message(1, params={}), message(2)], {})
    assert [r.positions for r in requests] == [(1,)]
    assert isinstance(refused[0], PermanentError)
    assert refused[0].code == "NoTemplateId"


# --- parsing ------------------------------------------------------------------------------


def _answer(*statuses: dict[str, object]) -> bytes:
    return json.dumps({"Response": {"SendStatusSet": list(statuses), "RequestId": "r"}}).encode()


def _status(number: str, code: str = "Ok", serial: str = "") -> dict[str, object]:
    return {"PhoneNumber": number, "Code": code, "SerialNo": serial, "Message": code}


def test_statuses_map_back_by_number_whatever_their_order() -> None:
    batch = [message(1, params=SAME), message(2, params=SAME), message(3, params=SAME)]
    answer = _answer(
        _status("+8613800000003", serial="2028:3"),
        _status("+8613800000001", serial="2028:1"),
        _status("+8613800000002", "LimitExceeded.PhoneNumberThirtySecondLimit"),
    )
    first, second, third = parse_response(200, answer, batch, now=TEN_AM)
    assert first == SendResult(1, "2028:1")
    assert third == SendResult(3, "2028:3")
    assert isinstance(second, RetryableError)
    assert second.retry_after == 30.0


def test_a_whole_request_error_applies_to_every_message() -> None:
    error = {"Response": {"Error": {"Code": "FailedOperation.SignatureIncorrectOrUnapproved",
                                    "Message": "x"}, "RequestId": "r"}}  # fmt: skip
    results = parse_response(200, json.dumps(error).encode(), [message(1), message(2)], now=TEN_AM)
    assert all(isinstance(r, ProviderConfigError) for r in results)


def test_answers_that_cannot_be_read_are_retried() -> None:
    batch = [message(1), message(2)]
    assert all(isinstance(r, RetryableError) for r in parse_response(502, b"", batch, now=TEN_AM))
    assert all(
        isinstance(r, RetryableError) for r in parse_response(200, b"<html>", batch, now=TEN_AM)
    )
    ok, missing = parse_response(
        200, _answer(_status("+8613800000001", serial="2028:1")), batch, now=TEN_AM
    )
    assert ok == SendResult(1, "2028:1")
    assert isinstance(missing, RetryableError)
    assert missing.code == "MissingStatus"
