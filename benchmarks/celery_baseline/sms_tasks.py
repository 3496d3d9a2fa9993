"""The Celery 5 baseline: what a Python team would write instead of the hub to send an SMS campaign.

One task renders a personalised SMS with Jinja2 (the enterprise's name, its officer and phone,
the policy and its deadline: the parameters of the hub's ``policy_push`` Tencent template, so
both send the same requests), signs the ``SendSms`` call with TC3-HMAC-SHA256 (:mod:`tc3`, the
team's own copy of the algorithm), POSTs it with ``requests`` and records the outcome in Redis
(one hash field per SMS: ``sent|<SerialNo>|<time>`` or ``failed|<code>|<time>``).

Two ways to run it, as such a team would try:

- ``send_sms``: one task per SMS;
- ``send_sms_chunk``: one task per 100 SMS (the team's own chunk task, not ``celery.chunks``,
  so that it can do what a chunk allows): the SMS of a chunk with identical parameters (an
  enterprise's two contacts) share one request, as Tencent allows up to 200 numbers, and the
  chunk's outcomes are one ``HSET`` of 100 fields.

Tuned honestly, as its users would (the runner, ``run.py``, starts the worker so):

- prefork pool, ``--concurrency`` = the machine's cores; ``--without-gossip --without-mingle
  --without-heartbeat`` (nothing to coordinate with one worker);
- ``worker_prefetch_multiplier``: 64 for one task per SMS (Celery's docs: many short tasks want a
  large multiplier, it saves a broker round trip per task), 4 for chunks (each is ~100 requests
  long: a larger one only holds work in one child while the other idles at the end);
- early acknowledgement (Celery's default, ``task_acks_late=False``): a task is acked when a
  child takes it, so a crash can lose an SMS but a redelivery never doubles one; late acks cost
  one more broker round trip per task and resend on a crash;
- no result backend (``task_ignore_result``): the outcome is the task's own Redis write;
  rate limits off (``worker_disable_rate_limits``); JSON serialisation (the default);
- per worker *process* (created after the fork, on first use): one ``requests.Session`` with
  keep-alive to the provider, one Redis connection for the outcomes, the Jinja2 templates
  compiled once at import, the TC3 day key cached;
- network failures retry with back-off (``autoretry_for``); a provider refusal is recorded as
  ``failed``, never retried (the hub does the same for permanent errors).

Configuration comes from the environment (``SMS_*``, set by ``run.py``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jinja2
import redis
import requests
from celery import Celery, signals
from redis.typing import EncodableT, FieldT
from requests.adapters import HTTPAdapter
from tc3 import Tc3Signer

app = Celery("sms_baseline", broker=os.environ.get("SMS_BROKER_URL", "redis://127.0.0.1:6379/0"))
app.conf.update(
    task_default_queue=os.environ.get("SMS_QUEUE", "sms"),
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    task_acks_late=False,
    worker_prefetch_multiplier=int(os.environ.get("SMS_PREFETCH", "64")),
    worker_disable_rate_limits=True,
    broker_connection_retry_on_startup=True,
)

#: SMS id -> ``sent|<SerialNo>|<time>`` or ``failed|<code>|<time>`` (a hash's fields).
Outcomes = dict[FieldT, EncodableT]
MAX_NUMBERS = 200  # Tencent: numbers per SendSms request
_JINJA = jinja2.Environment(autoescape=False, undefined=jinja2.StrictUndefined)
#: The approved template's parameters, one Jinja2 template each (what the team renders).
PARAMS = [
    _JINJA.from_string(source)
    for source in (
        "{{ sms.company }}",
        "{{ campaign.policy_title }}",
        "{% if campaign.deadline %}申报截止{{ campaign.deadline }}，请按时申报"
        "{% else %}请按政策要求申报{% endif %}",
        "{{ campaign.url or '当地政务服务网' }}",
        "{{ sms.officer_name or '企业服务专员' }}",
        "{{ (sms.officer_phone or '12345') | replace('+86', '') }}",
    )
]
#: The SMS as the enterprise reads it: the approved text filled in (kept with the outcome).
TEXT = _JINJA.from_string(
    "【{{ sign }}】{{ p[0] }}：为您匹配到惠企政策“{{ p[1] }}”，{{ p[2] }}。详见{{ p[3] }}。"
    "详询{{ p[4] }}，电话{{ p[5] }}。回复TD退订"
)


class _Clients:
    """What a worker process keeps: its HTTP session (keep-alive), Redis and signer."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.endpoint = os.environ["SMS_ENDPOINT"]
        self.session = requests.Session()
        self.session.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=4))
        self.redis = redis.Redis.from_url(os.environ["SMS_REDIS_URL"])
        host = self.endpoint.split("://", 1)[1].split("/", 1)[0]
        self.signer = Tc3Signer(os.environ["SMS_SECRET_ID"], os.environ["SMS_SECRET_KEY"], host)
        self.app_id = os.environ["SMS_SDK_APP_ID"]
        self.sign_name = os.environ["SMS_SIGN_NAME"]


_clients: _Clients | None = None


def clients() -> _Clients:
    """This process's clients, made after the fork (a socket must not be shared by children)."""
    global _clients
    if _clients is None or _clients.pid != os.getpid():
        _clients = _Clients()
    return _clients


def render(campaign: dict[str, Any], sms: dict[str, Any]) -> tuple[list[str], str]:
    """The template parameters of one SMS and its full text."""
    params = [template.render(campaign=campaign, sms=sms) for template in PARAMS]
    return params, TEXT.render(sign=clients().sign_name, p=params)


def post(c: _Clients, template_id: str, params: list[str], group: list[dict[str, Any]]) -> Outcomes:
    """One signed ``SendSms`` for SMS sharing their parameters; the outcome of each by id."""
    payload = {
        "PhoneNumberSet": [sms["mobile"] for sms in group],
        "SmsSdkAppId": c.app_id,
        "SignName": c.sign_name,
        "TemplateId": template_id,
        "TemplateParamSet": params,
        "SessionContext": ",".join(str(sms["id"]) for sms in group),
    }
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    answer = c.session.post(c.endpoint, data=body, headers=c.signer.headers(body), timeout=10)
    answer.raise_for_status()
    reply = answer.json()["Response"]
    now = time.time()
    if "Error" in reply:
        code = reply["Error"]["Code"]
        return {sms["id"]: f"failed|{code}|{now:.6f}" for sms in group}
    by_number = {status["PhoneNumber"]: status for status in reply["SendStatusSet"]}
    outcomes: Outcomes = {}
    for sms in group:
        status = by_number[sms["mobile"]]
        ok = status["Code"] == "Ok"
        outcome = status["SerialNo"] if ok else status["Code"]
        outcomes[sms["id"]] = f"{'sent' if ok else 'failed'}|{outcome}|{now:.6f}"
    return outcomes


_RETRY = {
    "autoretry_for": (requests.ConnectionError, requests.Timeout),
    "retry_backoff": True,
    "max_retries": 5,
}


@app.task(name="sms.send", **_RETRY)  # type: ignore[untyped-decorator]
def send_sms(campaign: dict[str, Any], sms: dict[str, Any]) -> None:
    """One personalised SMS: render, sign, POST, record."""
    c = clients()
    params, _text = render(campaign, sms)
    outcome = post(c, campaign["template_id"], params, [sms])
    c.redis.hset(campaign["outcomes_key"], mapping=outcome)


@app.task(name="sms.send_chunk", **_RETRY)  # type: ignore[untyped-decorator]
def send_sms_chunk(campaign: dict[str, Any], chunk: list[dict[str, Any]]) -> None:
    """A chunk of SMS: identical parameters share a request; one HSET for all outcomes."""
    c = clients()
    outcomes: Outcomes = {}
    for params, group in _groups(campaign, chunk):
        outcomes.update(post(c, campaign["template_id"], params, group))
    c.redis.hset(campaign["outcomes_key"], mapping=outcomes)


def _groups(
    campaign: dict[str, Any], chunk: Iterable[dict[str, Any]]
) -> list[tuple[list[str], list[dict[str, Any]]]]:
    """SMS of identical parameters together (≤200 numbers, a number at most once a request)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    done: list[tuple[list[str], list[dict[str, Any]]]] = []
    for sms in chunk:
        params, _text = render(campaign, sms)
        key = tuple(params)
        group = groups.setdefault(key, [])
        if len(group) >= MAX_NUMBERS or any(s["mobile"] == sms["mobile"] for s in group):
            done.append((params, group))
            group = groups[key] = []
        group.append(sms)
    done.extend((list(key), group) for key, group in groups.items() if group)
    return done


@signals.worker_ready.connect  # type: ignore[untyped-decorator]
def _ready(**_kwargs: Any) -> None:
    """The runner waits for this file (harness only: a deployment has no need of it)."""
    ready = os.environ.get("SMS_READY_FILE")
    if ready:
        Path(ready).write_text(str(os.getpid()))
