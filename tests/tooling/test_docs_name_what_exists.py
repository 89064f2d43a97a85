"""Every command, parameter and output the README and docs/*.md name exists.

A newcomer copies commands from the README and looks parameters up in the console, so a renamed
make target or a removed parameter must fail the build instead of the reader. What is checked:

1. `make <target>` in a fenced code block or an inline code span: <target> is a Makefile target.
   Prose ("make sure") is not code and is not read.
2. Names a document *claims* are parameters or outputs must be exactly that: every `Name=value`
   after `--parameter-overrides`, every backticked name in the first column of a table whose
   header names a Parameter or Output column, and `X` in "`X` parameter", "parameter `X`",
   "`X` output" or "output `X`".
3. Every other backticked name that looks like a template or API identifier (CamelCase,
   `^[A-Z][A-Za-z0-9]+$`, also the name in a `Name=value` span) must occur somewhere in what the
   project defines: template.yaml and compute/*.yaml (parameters, outputs, resources, property
   names, allowed values), the Makefile (its variables), and the code of functions/, app/ and
   harness/ (custom-resource properties, SNS message fields). A name found in none of them is
   stale or misspelt. The few AWS names documents may cite that the code never spells are listed
   in NAMED_ELSEWHERE.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.template.render import source_template

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# AWS names a document may cite that nothing in this repository spells.
NAMED_ELSEWHERE = {
    "AWSXRayDaemonWriteAccess",
    # Secrets Manager and RDS names the rotation document compares against.
    "AWSPREVIOUS",
    "RotationSucceeded",
    "LastRotatedDate",
    "NextRotationDate",
    "ManageMasterUserPassword",
    # ECS names the platform documents cite.
    "Cluster",
    "TaskDefinitionArn",
    "UpdateExpressGatewayService",
    # Container Insights' ECS task count, which docs/operations.md explains the alarms do not read.
    "RunningTaskCount",
}

FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
SPAN = re.compile(r"`([^`\n]+)`")
MAKE = re.compile(r"(?:^|[\s;&|(])make\s+(?:-\S+\s+)*(?:[A-Z_][A-Z0-9_]*=\S*\s+)*([a-z][\w.-]*)")
IDENTIFIER = re.compile(r"[A-Z][A-Za-z0-9]+")
ASSIGNMENT = re.compile(r"([A-Z][a-z][A-Za-z0-9]*)=\S*")
CLAIMED = re.compile(
    r"`(?P<a>[A-Z][A-Za-z0-9]+)` (?P<ka>parameter|output)\b"
    r"|\b(?P<kb>parameter|output) `(?P<b>[A-Z][A-Za-z0-9]+)`",
    re.IGNORECASE,
)


def makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Za-z0-9][\w.-]*)\s*:(?!=)", text, re.MULTILINE))


def code_of(text: str) -> list[str]:
    """Fenced blocks (comments removed) and inline spans outside them."""
    blocks = [re.sub(r"(?m)(^|\s)#.*$", "", block) for block in FENCE.findall(text)]
    return blocks + SPAN.findall(FENCE.sub("", text))


def table_claims(text: str) -> list[tuple[str, str]]:
    """(kind, name) for backticked names under a Parameter or Output column of a table."""
    claims: list[tuple[str, str]] = []
    column: tuple[int, str] | None = None
    for line in FENCE.sub("", text).splitlines():
        if not line.startswith("|"):
            column = None
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if column is None:
            for index, cell in enumerate(cells):
                if cell.lower() in {"parameter", "parameters", "output", "outputs"}:
                    column = (index, cell.lower().rstrip("s"))
                    break
            continue
        if set("".join(cells)) <= set("-: "):
            continue
        index, kind = column
        if index < len(cells):
            claims += [(kind, name) for name in SPAN.findall(cells[index])]
    return claims


def defined_words() -> set[str]:
    sources = [
        ROOT / "template.yaml",
        ROOT / "Makefile",
        *sorted((ROOT / "compute").glob("*.yaml")),
    ]
    for folder in ("functions", "app", "harness"):
        sources += sorted((ROOT / folder).rglob("*.py"))
    words: set[str] = set()
    for path in sources:
        words |= set(re.findall(r"[A-Za-z0-9]+", path.read_text(encoding="utf-8")))
    return words


@pytest.fixture(scope="module")
def template_names() -> dict[str, set[str]]:
    source = source_template()
    return {"parameter": set(source["Parameters"]), "output": set(source["Outputs"])}


@pytest.mark.parametrize("document", DOCUMENTS, ids=[d.name for d in DOCUMENTS])
def test_every_make_target_a_document_names_is_a_makefile_target(document: Path) -> None:
    targets = makefile_targets()
    named = {
        m for code in code_of(document.read_text(encoding="utf-8")) for m in MAKE.findall(code)
    }
    assert named - targets == set()


@pytest.mark.parametrize("document", DOCUMENTS, ids=[d.name for d in DOCUMENTS])
def test_every_parameter_override_a_document_shows_is_a_parameter(
    document: Path, template_names: dict[str, set[str]]
) -> None:
    overrides: set[str] = set()
    for code in code_of(document.read_text(encoding="utf-8")):
        for tail in re.findall(r"--parameter-overrides((?:\s+\\?\s*[^\s\\]+=[^\s\\]*)+)", code):
            overrides |= set(re.findall(r"([A-Za-z0-9]+)=", tail))
    assert overrides - template_names["parameter"] == set()


@pytest.mark.parametrize("document", DOCUMENTS, ids=[d.name for d in DOCUMENTS])
def test_every_name_a_document_calls_a_parameter_or_output_is_one(
    document: Path, template_names: dict[str, set[str]]
) -> None:
    text = document.read_text(encoding="utf-8")
    claims = table_claims(text)
    for match in CLAIMED.finditer(FENCE.sub("", text)):
        kind = (match["ka"] or match["kb"]).lower()
        claims.append((kind, match["a"] or match["b"]))
    wrong = [
        f"{kind} {name}"
        for kind, name in claims
        if IDENTIFIER.fullmatch(name) and name not in template_names[kind]
    ]
    assert wrong == []


@pytest.mark.parametrize("document", DOCUMENTS, ids=[d.name for d in DOCUMENTS])
def test_every_identifier_a_document_names_is_defined_somewhere_in_the_project(
    document: Path,
) -> None:
    words = defined_words() | NAMED_ELSEWHERE
    names: set[str] = set()
    for span in SPAN.findall(FENCE.sub("", document.read_text(encoding="utf-8"))):
        if IDENTIFIER.fullmatch(span):
            names.add(span)
        elif (assignment := ASSIGNMENT.fullmatch(span)) is not None:
            names.add(assignment.group(1))
    assert names - words == set()


def test_the_checks_see_what_they_are_meant_to_see() -> None:
    sample = (
        "Run `make demo`, then:\n\n```bash\nVERSION=1 make push  # make sure\n"
        "sam deploy --parameter-overrides ImageUri=x AlarmEmail=a@b.c\n```\n\n"
        "| Parameter | Default |\n| --- | --- |\n| `MinInstances` / `MaxInstances` | 1 |\n\n"
        "Set the `AlarmEmail` parameter; read output `ApiUrl`.\n"
    )
    code = code_of(sample)
    assert {m for c in code for m in MAKE.findall(c)} == {"demo", "push"}
    assert table_claims(sample) == [("parameter", "MinInstances"), ("parameter", "MaxInstances")]
    found = {(m["ka"] or m["kb"], m["a"] or m["b"]) for m in CLAIMED.finditer(sample)}
    assert found == {("parameter", "AlarmEmail"), ("output", "ApiUrl")}
