"""Writes docs/parameters.md: every parameter and output of template.yaml, from the template.

The reference is generated so that it cannot drift: `make docs` rewrites it, and a test fails
when the committed file differs from what this script makes from the current template. The
descriptions are the template's own (what the CloudFormation console shows), grouped as the
console groups them.

Usage: python scripts/template_reference.py [--check]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
OUTPUT = ROOT / "docs" / "parameters.md"

HEADER = """# Parameters and outputs

Generated from `template.yaml` by `make docs` (scripts/template_reference.py); a test fails when
this file and the template disagree, so edit the template's descriptions, not this file. Values
outside a parameter's constraints, and the combinations the template's `Rules` refuse, are
refused by CloudFormation before anything is created. Which parameters replace what when they
change: [what replaces what](deploy.md#what-replaces-what) and the template tests
(`tests/template/test_replacement_safety.py`).
"""


class _Loader(yaml.SafeLoader):  # type: ignore[misc]
    """Reads CloudFormation's short intrinsic tags (`!Ref`, `!Sub`, ...) as plain data."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    return {name: value}


_Loader.add_multi_constructor("!", _intrinsic)


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _allowed(spec: dict[str, Any]) -> str:
    if "AllowedValues" in spec:
        values = [str(v) for v in spec["AllowedValues"]]
        numbers = [int(v) for v in values if v.isdigit()]
        if len(numbers) == len(values) > 3 and numbers == list(range(numbers[0], numbers[-1] + 1)):
            return f"`{numbers[0]}` to `{numbers[-1]}`"
        return ", ".join(f"`{v}`" for v in values)
    bounds = []
    if "MinValue" in spec:
        bounds.append(f"≥ {spec['MinValue']}")
    if "MaxValue" in spec:
        bounds.append(f"≤ {spec['MaxValue']}")
    if bounds:
        return " and ".join(bounds)
    if "AllowedPattern" in spec:
        return _cell(spec.get("ConstraintDescription", "a pattern"))
    return "any"


def _default(spec: dict[str, Any]) -> str:
    if "Default" not in spec:
        return "— (required)"
    value = spec["Default"]
    if value == "":
        return "empty"
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"`{value}`"


def render(template: dict[str, Any]) -> str:
    parameters: dict[str, dict[str, Any]] = template.get("Parameters", {})
    interface = (template.get("Metadata") or {}).get("AWS::CloudFormation::Interface") or {}
    groups: list[tuple[str, list[str]]] = [
        (group["Label"]["default"], list(group["Parameters"]))
        for group in interface.get("ParameterGroups", [])
    ]
    grouped = {name for _label, names in groups for name in names}
    rest = [name for name in parameters if name not in grouped]
    if rest:
        groups.append(("Other", rest))
    lines = [HEADER, "## Parameters", ""]
    for label, names in groups:
        lines += [f"### {label}", "", "| Parameter | Default | Allowed | What it does |"]
        lines.append("| --- | --- | --- | --- |")
        for name in names:
            spec = parameters[name]
            lines.append(
                f"| `{name}` | {_default(spec)} | {_allowed(spec)} | "
                f"{_cell(spec.get('Description', ''))} |"
            )
        lines.append("")
    lines += ["## Outputs", "", "| Output | Only when | Description |", "| --- | --- | --- |"]
    for name, spec in (template.get("Outputs") or {}).items():
        condition = f"`{spec['Condition']}`" if "Condition" in spec else "always"
        lines.append(f"| `{name}` | {condition} | {_cell(spec.get('Description', ''))} |")
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail if docs/parameters.md differs")
    args = parser.parse_args(argv)
    loaded = yaml.load(TEMPLATE.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 - SafeLoader subclass
    text = render(loaded)
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT.relative_to(ROOT)} is out of date: run `make docs`", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
