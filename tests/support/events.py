"""Loads the event files in `events/`: the same files serve `sam local invoke -e` and the tests."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"
# The stack every event file comes from; the functions under test are pinned to it (STACK_ID).
STACK_ID = (
    "arn:aws:cloudformation:us-east-1:123456789012:stack/bookapp/"
    "5b8a2f10-ca9e-11f0-8de9-0a1b2c3d4e5f"
)


def load_event(name: str, **properties: Any) -> dict[str, Any]:
    """Return a deep copy of `events/<name>.json`.

    Keyword arguments replace (or, with the value None, remove) keys in `ResourceProperties`,
    so a test states only what it changes.
    """
    path = EVENTS_DIR / (name if name.endswith(".json") else f"{name}.json")
    event: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    event = copy.deepcopy(event)
    props = event.get("ResourceProperties")
    for key, value in properties.items():
        if props is None:
            raise KeyError(f"{name} has no ResourceProperties to override")
        if value is None:
            props.pop(key, None)
        else:
            props[key] = value
    return event
