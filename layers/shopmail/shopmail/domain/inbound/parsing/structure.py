"""Depth-first walk of a compat32 tree, capped in depth and in number of parts."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import Message

MAX_DEPTH = 32  # multipart nesting levels walked
MAX_PARTS = 1000  # parts walked per message (the rest is reported as a defect)
#: ``message/*`` types whose payload is a whole nested message (entered with ``into_messages``).
NESTED_MESSAGE_TYPES = frozenset({"message/rfc822", "message/global"})


def walk(
    tree: Message, defects: list[str] | None = None, *, into_messages: bool = False
) -> Iterator[tuple[int, Message, str]]:
    """Yield ``(index, part, content_type)`` for every part, depth first (``Message.walk``).

    Unlike ``Message.walk`` it is iterative, stops at ``MAX_DEPTH`` and ``MAX_PARTS``, and does
    not descend into ``message/*`` parts (nested messages are parsed on their own). With
    ``into_messages`` it also enters ``message/rfc822`` and ``message/global`` parts (the
    nested message and its parts follow the ``message/*`` part; indexes then differ from the
    default walk's, which :func:`part_at` uses). Report parts (``message/delivery-status``,
    ``message/feedback-report``, ...) are never entered: their sub-"messages" are fields.
    """
    stack: list[tuple[Message, int]] = [(tree, 0)]
    index = 0
    while stack:
        part, depth = stack.pop()
        if index >= MAX_PARTS:
            if defects is not None:
                defects.append(f"TooManyParts: stopped after {MAX_PARTS}")
            return
        content_type = part.get_content_type()
        yield index, part, content_type
        index += 1
        if not content_type.startswith("multipart/") and not (
            into_messages and content_type in NESTED_MESSAGE_TYPES
        ):
            continue
        payload = part.get_payload()
        if not isinstance(payload, list):
            continue
        if depth + 1 > MAX_DEPTH:
            if defects is not None:
                defects.append(f"NestingTooDeep: parts below depth {MAX_DEPTH} ignored")
            continue
        for child in reversed(payload):
            if isinstance(child, Message):
                stack.append((child, depth + 1))


def part_at(tree: Message, index: int) -> Message | None:
    """The part with walk index ``index``, or ``None``."""
    for i, part, _content_type in walk(tree):
        if i == index:
            return part
    return None
