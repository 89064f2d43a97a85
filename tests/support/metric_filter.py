"""Applies a CloudWatch Logs JSON filter pattern and its metric transformation to log lines.

moto's CloudWatch Logs does not evaluate JSON patterns, so the tests that tie the app's log lines
to the template's metric filters use this. It covers the subset the template uses, as CloudWatch
Logs documents it: `{ ... }` around comparisons `$.field = "text"` and `$.field != "text"` on
top-level fields, combined with `&&`, `||` and parentheses. Anything else (wildcards, numbers,
nested selectors, IS NULL, ...) raises `UnsupportedPatternError`, so a template change that leaves
the subset fails loudly instead of being matched wrongly. A line that is not a JSON object, or
lacks the compared field, does not match, as in CloudWatch Logs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Predicate = Callable[[Mapping[str, Any]], bool]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<op>&&|\|\||!=|=|\(|\))
      | (?P<selector>\$\.[A-Za-z_][A-Za-z0-9_]*)
      | "(?P<text>[^"\\*]*)"
    )""",
    re.VERBOSE,
)


class UnsupportedPatternError(ValueError):
    """The pattern uses syntax outside the subset this evaluator understands."""


def _tokens(body: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    position = 0
    while position < len(body):
        if body[position:].strip() == "":
            break
        match = _TOKEN.match(body, position)
        if match is None:
            raise UnsupportedPatternError(f"cannot read {body[position:]!r}")
        kind = match.lastgroup or ""
        found.append((kind, match.group(kind)))
        position = match.end()
    return found


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.index = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, kind: str, value: str | None = None) -> str:
        token = self.peek()
        if token is None or token[0] != kind or (value is not None and token[1] != value):
            raise UnsupportedPatternError(f"expected {value or kind} at token {self.index}")
        self.index += 1
        return token[1]

    def expression(self) -> Predicate:
        left = self.conjunction()
        while self.peek() == ("op", "||"):
            self.take("op", "||")
            right = self.conjunction()
            left = _either(left, right)
        return left

    def conjunction(self) -> Predicate:
        left = self.term()
        while self.peek() == ("op", "&&"):
            self.take("op", "&&")
            right = self.term()
            left = _both(left, right)
        return left

    def term(self) -> Predicate:
        if self.peek() == ("op", "("):
            self.take("op", "(")
            inner = self.expression()
            self.take("op", ")")
            return inner
        field = self.take("selector")[2:]
        operator = self.peek()
        if operator not in (("op", "="), ("op", "!=")):
            raise UnsupportedPatternError(f"expected = or != after $.{field}")
        self.index += 1
        text = self.take("text")
        return _comparison(field, text, equal=operator == ("op", "="))


def _either(left: Predicate, right: Predicate) -> Predicate:
    return lambda event: left(event) or right(event)


def _both(left: Predicate, right: Predicate) -> Predicate:
    return lambda event: left(event) and right(event)


def _comparison(field: str, text: str, *, equal: bool) -> Predicate:
    def compare(event: Mapping[str, Any]) -> bool:
        if field not in event or not isinstance(event[field], str):
            return False
        return (event[field] == text) is equal

    return compare


def compile_pattern(pattern: str) -> Predicate:
    """A predicate on a decoded JSON log line for a JSON filter pattern of the subset above."""
    stripped = pattern.strip()
    if not (stripped.startswith("{") and stripped.endswith("}")):
        raise UnsupportedPatternError("only JSON patterns ({ ... }) are supported")
    parser = _Parser(_tokens(stripped[1:-1]))
    predicate = parser.expression()
    if parser.peek() is not None:
        raise UnsupportedPatternError(f"unexpected token {parser.peek()!r}")
    return predicate


@dataclass(frozen=True)
class Datum:
    """One value the metric filter would publish: its dimensions and the value."""

    dimensions: tuple[tuple[str, str], ...]
    value: float


def apply_filter(
    pattern: str, transformation: Mapping[str, Any], lines: Iterable[str]
) -> list[Datum]:
    """What one metric transformation publishes for `lines` (raw log events, one per line).

    Dimension values must be `$.field` selectors; an event lacking one publishes nothing.
    """
    predicate = compile_pattern(pattern)
    dimensions = {d["Key"]: d["Value"] for d in transformation.get("Dimensions", [])}
    for key, selector in dimensions.items():
        if not re.fullmatch(r"\$\.[A-Za-z_][A-Za-z0-9_]*", selector):
            raise UnsupportedPatternError(f"dimension {key} must be a $.field selector")
    value = float(transformation["MetricValue"])
    published: list[Datum] = []
    for line in lines:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(event, dict) or not predicate(event):
            continue
        picked = {key: event.get(selector[2:]) for key, selector in dimensions.items()}
        if any(not isinstance(v, str) for v in picked.values()):
            continue
        published.append(Datum(tuple(sorted(picked.items())), value))  # type: ignore[arg-type]
    return published
