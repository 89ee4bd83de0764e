"""What every command shares: the portal it talks to, ``--json``, a run id, ``--set`` fields."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click

from keisei_client.credentials import Credentials, resolve
from keisei_client.exits import ClientError, Exit
from keisei_client.portal import Portal
from keisei_fields import read_config_fields

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Session:
    """The group's options, and the portal connection made on first use and closed at exit."""

    url_option: str | None
    opened: list[Portal] = field(default_factory=list)

    def credentials(self) -> Credentials:
        return resolve(self.url_option)

    def portal(self) -> Portal:
        """The portal, with a token; not being logged in is exit code 3, before any request."""
        credentials = self.credentials()
        if not credentials.token:
            raise ClientError(
                f"not logged in to {credentials.url}",
                exit_code=Exit.NOT_AUTHENTICATED,
                lines=("run: keisei login URL (or set KEISEI_TOKEN)",),
            )
        return self.open(Portal(credentials.url, credentials.token))

    def open(self, portal: Portal) -> Portal:
        self.opened.append(portal)
        return portal

    def close(self) -> None:
        for portal in self.opened:
            portal.close()


pass_session = click.make_pass_decorator(Session)


def json_option(command: F) -> F:
    """``--json``: the server's answer as JSON on stdout, for scripts."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON, for scripts.")(command)


def run_argument(command: F) -> F:
    return click.argument("run", type=click.IntRange(min=1), metavar="RUN")(command)


def set_option(command: F) -> F:
    return click.option(
        "--set",
        "assignments",
        multiple=True,
        metavar="KEY=VALUE",
        help="A field; the value is read as JSON when it can be (3e-4, true, [1,2]). Repeatable.",
    )(command)


def config_fields(assignments: tuple[str, ...], path: str | None) -> dict[str, Any]:
    """Fields from a TOML file then ``--set`` pairs; a malformed one is a usage error (exit 2)
    before anything is sent."""
    try:
        return read_config_fields(path, list(assignments))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--set' / '--config'") from None
