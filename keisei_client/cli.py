"""``keisei``: the portal's command-line client (docs/cli.md).

``keisei login URL`` once, then ``keisei submit``, ``runs``, ``show``, ``watch``, ``stop``,
``download``, ``games``, ``compare`` ... Tables for people, ``--json`` for scripts, and an exit
code for each way a command can end (``keisei_client.exits``).
"""

from __future__ import annotations

import click

from keisei_client import render
from keisei_client.commands import auth, edits, files, runs, sharing, trainers
from keisei_client.commands.common import Session
from keisei_client.exits import ClientError, Exit

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.option(
    "--url",
    metavar="URL",
    help="The portal (default: KEISEI_URL, else the one you logged in to).",
)
@click.version_option(package_name="keisei-site", prog_name="keisei")
@click.pass_context
def keisei(ctx: click.Context, url: str | None) -> None:
    """Queue, watch and steer training runs on a Keisei Site portal.

    Log in once with `keisei login URL`; KEISEI_URL and KEISEI_TOKEN override the stored
    address and token. Exit codes: 0 ok, 1 failed (a run did not complete, a download did not
    match), 2 usage, 3 not logged in or token refused, 4 not found, 5 refused by the server,
    6 server unavailable, 130 interrupted."""
    session = Session(url_option=url)
    ctx.obj = session
    ctx.call_on_close(session.close)


for command in (
    auth.login,
    auth.logout,
    auth.tokens,
    auth.me,
    trainers.trainers,
    runs.submit,
    runs.list_runs,
    runs.show,
    runs.watch,
    *runs.STEERING,
    edits.edit,
    edits.requeue,
    edits.delete,
    sharing.share,
    sharing.unshare,
    files.download,
    files.games,
    files.game,
    files.compare,
    files.metrics,
    files.events,
):
    keisei.add_command(command)


def main(argv: list[str] | None = None) -> int:
    """Run one command; print a failure as ``error: ...`` on stderr and return its exit code."""
    try:
        result = keisei.main(args=argv, prog_name="keisei", standalone_mode=False)
    except ClientError as exc:
        render.err.print(exc.text(), markup=False)
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except (click.Abort, KeyboardInterrupt):
        render.err.print("interrupted", markup=False)
        return int(Exit.INTERRUPTED)
    return int(result) if isinstance(result, int) else int(Exit.OK)
