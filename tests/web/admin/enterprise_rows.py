"""甲机械's full record for the enterprise page tests: the visit tests' record (tickets, credit
events, policies pushed and answered, visits) plus a licence, an annual report, an opt-out,
a failed notice and a reply of its own."""

from __future__ import annotations

from datetime import date

from hub.core.vocab import ChannelName, MessageKind, MessageStatus
from hub.store.db import Database
from hub.store.enterprise_data import AnnualReport, Licence
from hub.store.messaging import Message
from hub.store.registry import ContactOptOut
from tests.visits import dossier_rows as rows
from tests.visits.dossier_rows import T0, utc


async def full_record_of_jia(db: Database) -> dict[str, int]:
    """The sample registry with 甲机械's record; the enterprises' ids by name."""
    ids = await rows.record_of_jia(db)
    jia = ids["甲机械"]
    async with db.write() as session:
        contact = await rows.first_contact(session, jia)
        session.add(Licence(enterprise_id=jia, kind="排污许可证", number="PW-2027-001",
                            expires_on=date(2027, 6, 30), authority="市生态环境局",
                            created_at=T0, updated_at=T0))  # fmt: skip
        session.add(AnnualReport(enterprise_id=jia, year=2025, filed_on=date(2026, 5, 20),
                                 created_at=T0, updated_at=T0))  # fmt: skip
        session.add(ContactOptOut(contact_id=contact.id, channel=ChannelName.WECHAT, kind="*",
                                  at=T0, source="reply:TD"))  # fmt: skip
        session.add(Message(
            idempotency_key="notice-failed", kind=MessageKind.NOTICE, enterprise_id=jia,
            contact_id=contact.id, channel=ChannelName.SMS, address=contact.mobile or "",
            status=MessageStatus.FAILED, status_reason="号码停机", body="年报提醒", params={},
            created_at=utc(2027, 3, 1, 2), updated_at=utc(2027, 3, 1, 2),
        ))  # fmt: skip
        await rows.reply(session, jia, utc(2027, 3, 2, 2), text="年报已经报了")
    return ids
