"""Reading the environment: typed helpers whose errors name the variable.

The embedded launcher writes the URLs of the servers it owns to ``var/embedded.env``; a process
started by hand beside a running launcher (``manage.py shell``) reads them from there, so
nothing but the launcher ever starts a server.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("KEISEI_VAR_DIR", BASE_DIR / "var")).resolve()
EMBEDDED_ENV_FILE = VAR_DIR / "embedded.env"

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def _embedded_values() -> dict[str, str]:
    if not EMBEDDED_ENV_FILE.exists():
        return {}
    values = {}
    for line in EMBEDDED_ENV_FILE.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            values[key.strip()] = value.strip()
    return values


def get(name: str, default: str | None = None) -> str | None:
    """The variable from the environment, else from a running launcher's file, else default."""
    if name in os.environ:
        return os.environ[name]
    return _embedded_values().get(name, default)


def require(name: str, why: str) -> str:
    value = get(name)
    if not value:
        raise ImproperlyConfigured(f"{name} is not set: {why}")
    return value


def boolean(name: str, default: bool) -> bool:
    raw = get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def integer(name: str, default: int, *, minimum: int = 0, maximum: int = 2**31) -> int:
    return _bounded(name, default, int, "an integer", minimum, maximum)


def number(name: str, default: float, *, minimum: float, maximum: float) -> float:
    """A decimal number within bounds (seconds, rates); NaN is out of every bound."""
    return _bounded(name, default, float, "a number", minimum, maximum)


def choice(name: str, choices: tuple[str, ...], default: str) -> str:
    """One of ``choices`` (case-insensitive); anything else is refused, naming the variable."""
    raw = get(name)
    if raw is None or raw.strip() == "":
        return default
    word = raw.strip().lower()
    if word not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return word


def _bounded(name, default, parse, kind: str, minimum, maximum):
    raw = get(name)
    if raw is None or raw == "":
        return default
    try:
        value = parse(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be {kind}, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise ImproperlyConfigured(f"{name} must be between {minimum} and {maximum}, got {raw}")
    return value


def csv_list(name: str, default: list[str]) -> list[str]:
    raw = get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def database(name: str) -> dict[str, object]:
    """A Django DATABASES entry from a ``postgres://`` URL (``?host=/dir`` for a unix socket)."""
    url = require(name, "give a postgres:// URL, or unset it everywhere to use the embedded server")
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql", "pgsql"}:
        raise ImproperlyConfigured(f"{name} must be a postgres:// URL, got scheme {parts.scheme!r}")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    host = query.pop("host", None) or unquote(parts.hostname or "")
    db_name = unquote(parts.path.lstrip("/"))
    if not db_name:
        raise ImproperlyConfigured(f"{name} names no database (postgres://user@host:port/NAME)")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": db_name,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": host,
        "PORT": str(parts.port or ""),
        "OPTIONS": query,
    }


def redis_url(name: str) -> str:
    url = require(name, "give a redis:// or unix:// URL, or unset it to use the embedded server")
    scheme = urlsplit(url).scheme
    if scheme not in {"redis", "rediss", "unix"}:
        raise ImproperlyConfigured(f"{name} must be a redis://, rediss:// or unix:// URL")
    return url


AMQP_SCHEMES = {"amqp", "amqps", "pyamqp"}
REDIS_BROKER_SCHEMES = {"redis", "rediss", "unix", "redis+socket"}


def broker_url(name: str, redis: str) -> str:
    """Celery's broker: ``name`` (an ``amqp://`` RabbitMQ, or a Redis) when set, else ``redis``
    (the Redis of ``REDIS_URL``), spelled as kombu reads it."""
    url = get(name) or redis
    scheme = urlsplit(url).scheme
    if scheme not in AMQP_SCHEMES | REDIS_BROKER_SCHEMES:
        raise ImproperlyConfigured(
            f"{name} must be an amqp:// (RabbitMQ) or redis:// URL, got scheme {scheme!r}"
        )
    return celery_broker_url(url)


def is_amqp(url: str) -> bool:
    """True for a RabbitMQ (AMQP) broker URL, False for Redis."""
    return urlsplit(url).scheme in AMQP_SCHEMES


def celery_broker_url(url: str) -> str:
    """Celery (kombu) spells a unix-socket Redis as ``redis+socket://``."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = f"?{parts.query}" if parts.query else ""
        return f"redis+socket://{parts.path}{query}"
    return url


RATE_PERIODS = ("s", "sec", "m", "min", "h", "hour", "d", "day")


def rate(name: str, default: str | None) -> str | None:
    """A request rate as DRF reads it (``"1200/min"``: a count per s, min, hour or day), or
    None for no limit (``off``)."""
    raw = get(name)
    if raw is None or raw.strip() == "":
        return default
    if raw.strip().lower() in ("off", "none", "0"):
        return None
    count, _, period = raw.strip().partition("/")
    if not count.isdigit() or int(count) < 1 or period not in RATE_PERIODS:
        raise ImproperlyConfigured(
            f"{name} must be a rate such as 1200/min (per s, min, hour or day) or off, got {raw!r}"
        )
    return raw.strip()


def origin_url(name: str) -> str | None:
    """An optional http(s)://host[:port] with nothing after it, or None when unset or empty."""
    raw = (get(name) or "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    try:
        parts.port  # noqa: B018 (raises on a port that is not a number in range)
    except ValueError:
        parts = urlsplit("")
    if (
        parts.scheme not in {"http", "https"}
        or not parts.hostname
        or parts.path not in {"", "/"}
        or parts.query
        or parts.fragment
        or parts.username
    ):
        raise ImproperlyConfigured(
            f"{name} must be http(s)://host or http(s)://host:port (nothing after it), got {raw!r}"
        )
    return raw.rstrip("/")
