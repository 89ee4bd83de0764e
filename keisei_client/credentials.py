"""Where ``keisei login`` keeps the portal's address and the token, and how a command finds them.

The file is ``$XDG_CONFIG_HOME/keisei/config.json`` (``~/.config/keisei/config.json``), JSON
``{"url": ..., "token": ...}``, mode 0600 in a 0700 directory. ``KEISEI_URL`` and
``KEISEI_TOKEN`` override it; the token is never a command-line argument (the process list and
shell history would show it).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from keisei_client.exits import ClientError, Exit

DEFAULT_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class Credentials:
    """A portal's address and the token to speak to it with ("" when there is none)."""

    url: str
    token: str


def config_path() -> Path:
    """The config file, following the XDG base directory convention."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "keisei" / "config.json"


def normalised_url(url: str) -> str:
    """``http://host:port`` without a trailing slash; a bare host gets ``http://``."""
    url = url.strip().rstrip("/")
    if not url:
        raise ClientError("the portal URL is empty", exit_code=Exit.USAGE)
    if "://" not in url:
        url = f"http://{url}"
    if not url.startswith(("http://", "https://")):
        raise ClientError(
            f"the portal URL must be http:// or https://, got {url!r}", exit_code=Exit.USAGE
        )
    return url


def stored() -> Credentials | None:
    """What ``keisei login`` stored, or None."""
    path = config_path()
    try:
        data = json.loads(path.read_text())
        return Credentials(url=str(data["url"]), token=str(data.get("token") or ""))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ClientError(f"cannot read {path}: {exc}; log in again to rewrite it") from None


def store(credentials: Credentials) -> Path:
    """Write the config file, readable by its owner alone from the moment it exists.

    A temporary file made with mode 0600 (``mkstemp``) replaces the old one, so the token is
    never in a file others may read, not even between a create and a chmod, and a crash leaves
    the old file whole."""
    path = config_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=".config-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump({"url": credentials.url, "token": credentials.token}, fh, indent=2)
            fh.write("\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def forget_token() -> None:
    """Remove the stored token, keeping the address for the next ``keisei login``."""
    current = stored()
    if current is not None:
        store(Credentials(url=current.url, token=""))


def resolve(url_option: str | None) -> Credentials:
    """The address and token a command uses: ``--url``, then ``KEISEI_URL``, then the file;
    ``KEISEI_TOKEN``, then the file's token, which goes only to the address it was made for."""
    saved = stored()
    url = url_option or os.environ.get("KEISEI_URL") or (saved.url if saved else DEFAULT_URL)
    url = normalised_url(url)
    token = os.environ.get("KEISEI_TOKEN", "")
    if not token and saved is not None and saved.url == url:
        token = saved.token
    return Credentials(url=url, token=token)
