"""What the assistant's tests with the real knowledge base share: the demo FAQ library, saved
as ``hub import faq`` saves it (K1's :func:`hub.importing.faq_rows.import_faq_file`), and the
questions asked of it."""

from __future__ import annotations

from datetime import datetime

from hub.app.runtime import PROJECT_ROOT
from hub.importing.faq_rows import import_faq_file
from hub.store.db import Database

DEMO_FAQ = PROJECT_ROOT / "hub" / "devtools" / "demo_faq.csv"
#: A paraphrase of FAQ-SUB-001 (申请高新技术企业认定需要满足哪些条件？), the issue's example.
QUESTION = "高新技术企业认定需要什么条件？"
ENTRY = "FAQ-SUB-001"
#: Outside the library: a person handles it.
OUT_OF_SCOPE = "园区东门道路破损，请尽快维修"


async def seed_demo_faq(db: Database, now: datetime) -> int:
    """Save the demo FAQ library; how many entries were created."""
    parsed, changes = await import_faq_file(db, DEMO_FAQ, now, actor="test")
    assert not parsed.rejects
    return len(changes.created)
