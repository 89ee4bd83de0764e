"""A run's tags and notes, checked the same way when it is queued and when it is edited."""

from __future__ import annotations

import re
from typing import Any

from runs.models import MAX_TAGS, NOTES_MAX_LENGTH, TAG_MAX_LENGTH, TAG_PATTERN

Fields = dict[str, list[str]]
_TAG = re.compile(TAG_PATTERN)


def checked_tags(tags: Any, errors: Fields) -> list[str] | None:
    """The tags, each once in the order given; None (and ``errors`` filled) when refused."""
    if not isinstance(tags, list | tuple):
        errors["tags"] = ["must be a list of tags"]
        return None
    wrong = [
        f"tags.{i}"
        for i, tag in enumerate(tags)
        if not isinstance(tag, str) or not _TAG.fullmatch(tag)
    ]
    for path in wrong:
        errors[path] = [f"a tag is 1 to {TAG_MAX_LENGTH} characters of A-Z a-z 0-9 _ . : -"]
    unique = list(dict.fromkeys(tag for tag in tags if isinstance(tag, str)))
    if len(unique) > MAX_TAGS:
        errors["tags"] = [f"at most {MAX_TAGS} tags, got {len(unique)}"]
    return None if wrong or len(unique) > MAX_TAGS else unique


def checked_notes(notes: Any, errors: Fields) -> str | None:
    if not isinstance(notes, str) or len(notes) > NOTES_MAX_LENGTH:
        errors["notes"] = [f"must be text of at most {NOTES_MAX_LENGTH} characters"]
        return None
    return notes
