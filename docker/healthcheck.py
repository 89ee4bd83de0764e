"""Container health checks of docker/compose.yaml, standard library only (no curl in the image).

    python docker/healthcheck.py http /readyz      the web process answers 2xx on that path
    python docker/healthcheck.py beat FILE SECONDS beat wrote its schedule file that recently

Exit 0 when healthy, 1 with one line on stderr saying why when not.
"""

from __future__ import annotations

import glob
import http.client
import os
import sys
import time


def site_host(allowed_hosts: str) -> str:
    """A Host header Django accepts: the first ALLOWED_HOSTS entry that is a plain name
    (a request for 127.0.0.1 would be refused with 400 where only the site's name is allowed)."""
    for entry in allowed_hosts.split(","):
        name = entry.strip()
        if name and name != "*":
            return name.lstrip(".")
    return "localhost"


def check_http(path: str, port: int = 8000) -> str | None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=4)
    try:
        connection.request(
            "GET", path, headers={"Host": site_host(os.environ.get("ALLOWED_HOSTS", ""))}
        )
        response = connection.getresponse()
        body = response.read(300).decode(errors="replace")
    except (OSError, http.client.HTTPException) as error:
        return f"GET {path}: {error}"
    finally:
        connection.close()
    if not 200 <= response.status < 300:
        return f"GET {path}: {response.status} {body}"
    return None


def check_beat(schedule: str, max_age: float) -> str | None:
    # Beat's shelve file gets a suffix or several files depending on the dbm module at hand.
    files = glob.glob(glob.escape(schedule) + "*")
    if not files:
        return f"no schedule file {schedule}* yet"
    age = time.time() - max(os.path.getmtime(name) for name in files)
    if age > max_age:
        return f"beat has not written {schedule} for {age:.0f} s (over {max_age:.0f} s)"
    return None


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "http":
        problem = check_http(argv[1])
    elif len(argv) == 3 and argv[0] == "beat":
        problem = check_beat(argv[1], float(argv[2]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
