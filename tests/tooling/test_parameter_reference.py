"""docs/parameters.md is what scripts/template_reference.py makes from the current template.

The reference lists every parameter and output with the template's own description, so a
parameter added, renamed or re-described in template.yaml without `make docs` fails here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import yaml

ROOT = Path(__file__).resolve().parents[2]


def reference_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "template_reference", ROOT / "scripts" / "template_reference.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_parameter_reference_is_the_generated_one() -> None:
    module = reference_module()
    template = yaml.load(module.TEMPLATE.read_text(encoding="utf-8"), Loader=module._Loader)  # noqa: S506

    expected = module.render(template)

    assert (ROOT / "docs" / "parameters.md").read_text(encoding="utf-8") == expected, (
        "docs/parameters.md is out of date: run `make docs`"
    )


def test_every_parameter_and_output_of_the_template_is_in_the_reference() -> None:
    module = reference_module()
    template = yaml.load(module.TEMPLATE.read_text(encoding="utf-8"), Loader=module._Loader)  # noqa: S506
    text = module.render(template)

    for name in [*template["Parameters"], *template["Outputs"]]:
        assert f"| `{name}` |" in text, name


def test_a_parameter_outside_every_console_group_still_gets_a_row() -> None:
    module = reference_module()
    template = {
        "Parameters": {"Grouped": {"Type": "String"}, "Loose": {"Type": "String", "Default": "x"}},
        "Metadata": {
            "AWS::CloudFormation::Interface": {
                "ParameterGroups": [{"Label": {"default": "G"}, "Parameters": ["Grouped"]}]
            }
        },
        "Outputs": {"Out": {"Value": "v", "Condition": "C", "Description": "d | e"}},
    }

    text = module.render(template)

    assert "### Other" in text
    assert "| `Loose` | `x` | any |" in text
    assert "| `Grouped` | — (required) | any |" in text
    assert "| `Out` | `C` | d \\| e |" in text
