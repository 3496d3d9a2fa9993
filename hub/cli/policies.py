"""``hub policies reach POLICY_ID``: how far a policy got (惠企政策精准推送的触达).

Counts, in enterprises, from the messages policy matching sent for the policy (trigger
``program:policy_match``, trigger key ``policy:<policy_id>``): eligible now, sent, delivered,
replied, opted out. ``--json`` prints them as an object; an unknown policy exits 1 naming it.
"""

from __future__ import annotations

import typer

from hub.cli.common import out, print_json, print_table, with_database
from hub.scheduling.programs.policy_match import REACH_LABELS, PolicyReach, policy_reach


def register(app: typer.Typer) -> None:
    policies_app = typer.Typer(help="惠企政策 (policies)", no_args_is_help=True)
    app.add_typer(policies_app, name="policies")
    policies_app.command("reach")(policies_reach)


def policies_reach(
    ctx: typer.Context,
    policy_id: str = typer.Argument(..., help="政策编号，如 ZC-2027-001"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """政策触达：符合条件的企业数，及已发送、已送达、已回复、已退订的企业数。"""
    reach: PolicyReach = with_database(ctx, lambda db: policy_reach(db, policy_id.strip()))
    if as_json:
        print_json({"policy_id": reach.policy_id, "title": reach.title, **reach.counts()})
        return
    out.print(f"政策 {reach.policy_id}：{reach.title}")
    rows = [(REACH_LABELS[name], count) for name, count in reach.counts().items()]
    print_table("政策触达（企业数）", ("项目", "企业"), rows)
