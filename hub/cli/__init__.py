"""The ``hub`` command.

Exit codes (docs/design.md): 0 done; 1 done with rejections or a failed check; 2 bad config or
usage. ``--json`` on commands that list or report prints JSON on stdout; times are ISO 8601
with +08:00.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from hub.cli import (
    answers,
    bench,
    calendar,
    campaigns,
    enterprises,
    faq,
    messaging,
    policies,
    registry,
    reports,
    sandbox,
    schedules,
    sla,
    staff,
    system,
    templates,
    tickets,
    visits,
)
from hub.cli.common import err, print_error
from hub.core.clock import Clock
from hub.core.errors import ConfigError, HubError, InputError, UsageError

app = typer.Typer(
    name="hub",
    help="主动服务消息中枢 (the Hub): messages to enterprises, replies back into tickets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _global(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None, "--config", help="config.yaml to use (default: $HUB_CONFIG or ./config.yaml)"
    ),
) -> None:
    ctx.ensure_object(dict)["config_path"] = config


system.register(app)
registry.register(app)
enterprises.register(app)
messaging.register(app)
campaigns.register(app)
sandbox.register(app)
templates.register(app)
schedules.register(app)
bench.register(app)
staff.register(app)
sla.register(app)
reports.register(app)
tickets.register(app)
calendar.register(app)
policies.register(app)
faq.register(app)
visits.register(app)
answers.register(app)


def main(argv: list[str] | None = None, *, clock: Clock | None = None) -> int:
    """Entry point of the console script; maps the hub's errors to exit codes.

    ``clock``: what commands take the time from (tests pass a FixedClock); the wall clock
    by default.
    """
    try:
        # Without standalone mode click returns the code of typer.Exit instead of exiting.
        result = app(args=argv, standalone_mode=False, obj={"clock": clock} if clock else None)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        err.print("已取消 (aborted)")
        return 1
    except typer.TyperException as exc:  # click's usage errors (typer vendors click)
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            err.print(str(exc))
        return 2
    except ConfigError as exc:
        for problem in (exc, *exc.others):
            print_error("配置错误", problem)
        return 2
    except UsageError as exc:
        print_error("用法错误", exc)
        return 2
    except InputError as exc:  # the file given cannot be used at all: nothing was imported
        print_error("文件错误", exc)
        return 2
    except HubError as exc:
        print_error("错误", exc)
        return 1
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
