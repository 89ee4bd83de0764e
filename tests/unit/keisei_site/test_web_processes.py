"""How many Daphne processes ``make run`` starts (``KEISEI_WEB_PROCESSES``)."""

from __future__ import annotations

import os

import pytest

from keisei_site.launcher import daphne_args, web_processes


def test_one_per_core_by_default_and_the_number_asked_for():
    assert web_processes({}) == max(1, min(os.cpu_count() or 1, 8))
    assert web_processes({"KEISEI_WEB_PROCESSES": "3"}) == 3


@pytest.mark.parametrize("raw", ["0", "65", "two", "-1", "1.5"])
def test_a_bad_count_is_refused_naming_the_variable(raw):
    with pytest.raises(ValueError, match="KEISEI_WEB_PROCESSES must be a number from 1 to 64"):
        web_processes({"KEISEI_WEB_PROCESSES": raw})


def test_a_shared_socket_replaces_the_address():
    args = daphne_args("127.0.0.1", "8000", fd=7)
    assert args[args.index("--fd") + 1] == "7"
    assert "-b" not in args and "-p" not in args
