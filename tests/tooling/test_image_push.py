"""`make image` and `make push`: the commands they run, the ImageUri they print, their errors.

No container engine runs on the build machines and there is no AWS account, so the real script
runs with stand-in `aws`, `docker`, `podman` and `git` (tests/support/fake_tools.py). With
`--dry-run` (make's DRY_RUN=1) the read-only look-ups run against the stand-ins and every command
that would change something is printed: the tests assert those lines, that nothing was changed,
and that the printed ImageUri is one the template accepts. One test runs a real push against the
stand-ins to check that the ECR password travels on stdin and is never printed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.fake_tools import FakeTools, run_tool
from tests.template.render import source_template
from tests.template.validate import validate

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "deploy_tools.py"
ACCOUNT = "123456789012"
REGISTRY = f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com"
NOT_FOUND = (
    "\nAn error occurred (RepositoryNotFoundException) when calling the DescribeRepositories "
    f"operation: The repository with name 'bookapp' does not exist in the registry with id "
    f"'{ACCOUNT}'\n"
)
IMAGE_NOT_FOUND = (
    "\nAn error occurred (ImageNotFoundException) when calling the DescribeImages operation: "
    "Requested image not found\n"
)
PASSWORD = "eyJwYXlsb2FkIjoiVEhJUy1JUy1USEUtRUNSLVBBU1NXT1JEIn0="


def fake_aws(tools: FakeTools, *, repository: dict[str, object] | None = None) -> None:
    tools.add("aws", ["--version"], stdout="aws-cli/2.17.20 Python/3.11.9 Linux/6.1\n")
    tools.add("aws", ["configure", "get", "region"], code=1)
    tools.add("aws", ["sts", "get-caller-identity"], stdout=f"{ACCOUNT}\n")
    if repository is None:
        tools.add("aws", ["ecr", "describe-repositories"], stderr=NOT_FOUND, code=254)
    else:
        tools.add(
            "aws",
            ["ecr", "describe-repositories"],
            stdout=json.dumps({"repositories": [repository]}),
        )
        tools.add("aws", ["ecr", "describe-images"], stderr=IMAGE_NOT_FOUND, code=254)
    tools.add("aws", ["ecr", "create-repository"], stdout="{}")
    tools.add("aws", ["ecr", "get-login-password"], stdout=f"{PASSWORD}\n")


def fake_engine(tools: FakeTools, name: str = "docker") -> None:
    tools.add(name, ["info"], stdout="27.3.1\n")
    tools.add(name, ["login"], stdout="Login Succeeded\n")
    for command in ("build", "tag", "push"):
        tools.add(name, [command], stdout=f"{command} done\n")


def push(tools: FakeTools, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    env = tools.env(**{"AWS_DEFAULT_REGION": "eu-west-1", **variables})
    return run_tool(SCRIPT, ["push", *args], env, cwd=ROOT)


def changed(tools: FakeTools) -> list[list[str]]:
    """Every call that changes something (anything but the read-only look-ups)."""
    read_only = {"--version", "info", "describe-repositories", "describe-images", "configure"}
    return [
        [call.tool, *call.args]
        for call in tools.calls()
        if not read_only & set(call.args) and call.args[:1] != ["sts"] and call.tool != "git"
    ]


@pytest.fixture
def tools(tmp_path: Path) -> FakeTools:
    box = FakeTools(tmp_path / "machine")
    box.bin.mkdir(parents=True)
    return box


# --------------------------------------------------------------------------- dry run


def test_a_dry_run_push_prints_every_change_and_the_image_uri_and_changes_nothing(
    tools: FakeTools,
) -> None:
    fake_aws(tools)
    fake_engine(tools)
    result = push(tools, "--tag", "1.2.3", "--dry-run")
    assert result.returncode == 0, result.stderr
    uri = f"{REGISTRY}/bookapp:1.2.3"
    lines = result.stdout.splitlines()
    assert [line for line in lines if line.startswith("would run: ")] == [
        "would run: aws ecr create-repository --repository-name bookapp "
        "--image-tag-mutability IMMUTABLE --image-scanning-configuration scanOnPush=true "
        "--region eu-west-1",
        "would run: docker build --platform linux/amd64 --provenance=false --tag bookapp:1.2.3 "
        "--file app/Dockerfile app",
        "would run: aws ecr get-login-password --region eu-west-1 | docker login --username AWS "
        f"--password-stdin {REGISTRY}",
        f"would run: docker tag bookapp:1.2.3 {uri}",
        f"would run: docker push {uri}",
    ]
    assert f"ImageUri={uri}" in lines
    assert (
        f"  .venv/bin/sam deploy --guided --region eu-west-1 --parameter-overrides ImageUri={uri}"
        in lines
    )
    assert changed(tools) == []


def test_the_printed_image_uri_is_one_the_template_accepts(tools: FakeTools) -> None:
    fake_aws(tools)
    fake_engine(tools)
    result = push(tools, "--tag", "v2.0.1-3-gabc1234", "--dry-run")
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("ImageUri=")]
    uri = line.removeprefix("ImageUri=")
    assert uri == f"{REGISTRY}/bookapp:v2.0.1-3-gabc1234"
    assert validate(source_template(), {"ImageUri": uri}) == []


def test_podman_builds_in_docker_format_when_it_is_the_engine_there_is(tools: FakeTools) -> None:
    fake_aws(tools)
    fake_engine(tools, "podman")
    result = push(tools, "--tag", "1.2.3", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert (
        "would run: podman build --platform linux/amd64 --format docker --tag bookapp:1.2.3 "
        "--file app/Dockerfile app"
    ) in result.stdout.splitlines()
    assert f"would run: podman push {REGISTRY}/bookapp:1.2.3" in result.stdout.splitlines()


def test_an_existing_immutable_repository_is_used_as_it_is(tools: FakeTools) -> None:
    fake_aws(
        tools,
        repository={
            "imageTagMutability": "IMMUTABLE",
            "imageScanningConfiguration": {"scanOnPush": True},
        },
    )
    fake_engine(tools)
    result = push(tools, "--tag", "1.2.3", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "create-repository" not in result.stdout
    assert "note:" not in result.stdout
    (images,) = [c for c in tools.calls("aws") if "describe-images" in c.args]
    assert "imageTag=1.2.3" in images.args


def test_a_mutable_repository_without_scanning_gets_a_note(tools: FakeTools) -> None:
    fake_aws(
        tools,
        repository={
            "imageTagMutability": "MUTABLE",
            "imageScanningConfiguration": {"scanOnPush": False},
        },
    )
    fake_engine(tools)
    result = push(tools, "--tag", "1.2.3", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "note: repository bookapp has tags MUTABLE and scan on push off" in result.stdout


def test_a_china_region_gets_the_china_registry_host(tools: FakeTools) -> None:
    fake_aws(tools)
    fake_engine(tools)
    result = push(tools, "--tag", "1.2.3", "--dry-run", AWS_DEFAULT_REGION="cn-north-1")
    assert f"ImageUri={ACCOUNT}.dkr.ecr.cn-north-1.amazonaws.com.cn/bookapp:1.2.3" in (
        result.stdout.splitlines()
    )


def test_image_builds_with_docker_under_the_release_tag(tools: FakeTools) -> None:
    fake_engine(tools)
    result = run_tool(SCRIPT, ["image", "--tag", "1.2.3", "--dry-run"], tools.env(), cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == (
        "would run: docker build --platform linux/amd64 --provenance=false --tag bookapp:1.2.3 "
        "--file app/Dockerfile app"
    )
    assert tools.calls() == []


# --------------------------------------------------------------------------- release tag


def test_the_tag_defaults_to_git_describe(tools: FakeTools) -> None:
    fake_aws(tools)
    fake_engine(tools)
    tools.add("git", ["describe", "--tags", "--always", "--dirty"], stdout="v1.4.0-2-gabc1234\n")
    result = push(tools, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert f"ImageUri={REGISTRY}/bookapp:v1.4.0-2-gabc1234" in result.stdout.splitlines()


def test_a_push_from_a_dirty_tree_without_a_version_is_refused(tools: FakeTools) -> None:
    fake_aws(tools)
    fake_engine(tools)
    tools.add("git", ["describe"], stdout="v1.4.0-dirty\n")
    result = push(tools, "--dry-run")
    assert result.returncode == 1
    assert result.stderr == (
        "error: the working tree has uncommitted changes (git describe: v1.4.0-dirty), so the "
        "tag would not name one build. Commit first, or give VERSION=<tag>.\n"
    )


@pytest.mark.parametrize("tag", ["has space", "-leading-dash", "a/b", "x" * 129])
def test_a_version_that_is_not_an_image_tag_is_refused(tools: FakeTools, tag: str) -> None:
    fake_aws(tools)
    fake_engine(tools)
    result = push(tools, f"--tag={tag}", "--dry-run")
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: VERSION {tag!r} is not an image tag")


def test_a_tag_already_in_an_immutable_repository_is_refused(tools: FakeTools) -> None:
    fake_aws(
        tools,
        repository={
            "imageTagMutability": "IMMUTABLE",
            "imageScanningConfiguration": {"scanOnPush": True},
        },
    )
    tools.rules["aws"].insert(
        0, {"args": ["ecr", "describe-images"], "stdout": "{}", "stderr": "", "code": 0}
    )
    (tools.root / "aws.rules.json").write_text(json.dumps(tools.rules["aws"]))
    fake_engine(tools)
    result = push(tools, "--tag", "1.2.3", "--dry-run")
    assert result.returncode == 1
    assert result.stderr.startswith(
        "error: tag 1.2.3 is already in bookapp, and its tags are immutable."
    )
    assert "new VERSION=<tag>" in result.stderr


# --------------------------------------------------------------------------- errors


def test_without_docker_or_podman_the_error_says_what_to_install(tools: FakeTools) -> None:
    fake_aws(tools)
    result = push(tools, "--tag", "1.2.3", "--dry-run")
    assert result.returncode == 1
    assert result.stderr.startswith("error: neither docker nor podman is on PATH. Install Docker")
    assert "or Podman" in result.stderr
    image = run_tool(SCRIPT, ["image", "--tag", "1.2.3"], tools.env(), cwd=ROOT)
    assert image.returncode == 1
    assert image.stderr.startswith("error: neither docker nor podman is on PATH.")


def test_a_named_engine_that_is_not_there_is_named_in_the_error(tools: FakeTools) -> None:
    fake_engine(tools, "docker")
    result = run_tool(
        SCRIPT, ["image", "--tag", "1", "--engine", "podman", "--dry-run"], tools.env(), cwd=ROOT
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: podman is not on PATH.")


def test_an_engine_that_does_not_answer_is_refused_before_anything_changes(
    tools: FakeTools,
) -> None:
    fake_aws(tools)
    tools.add("docker", ["info"], stderr="Cannot connect to the Docker daemon.\n", code=1)
    result = push(tools, "--tag", "1.2.3")
    assert result.returncode == 1
    assert "the container engine does not answer (docker: Cannot connect" in result.stderr
    assert changed(tools) == []


def test_regions_that_disagree_are_refused_unless_region_is_given(tools: FakeTools) -> None:
    fake_aws(tools)
    fake_engine(tools)
    result = push(tools, "--tag", "1.2.3", "--dry-run", AWS_REGION="eu-central-1")
    assert result.returncode == 1
    assert result.stderr.startswith(
        "error: the AWS CLI would push to eu-central-1 (AWS_REGION) but SAM CLI would deploy to "
        "eu-west-1 (AWS_DEFAULT_REGION)."
    )
    chosen = push(
        tools, "--tag", "1.2.3", "--dry-run", "--region", "eu-central-1", AWS_REGION="eu-central-1"
    )
    assert chosen.returncode == 0, chosen.stderr
    assert f"ImageUri={ACCOUNT}.dkr.ecr.eu-central-1.amazonaws.com/bookapp:1.2.3" in (
        chosen.stdout.splitlines()
    )


def test_aws_cli_version_1_is_refused(tools: FakeTools) -> None:
    tools.add("aws", ["--version"], stderr="aws-cli/1.45.11 Python/3.11.7 Linux/6.1\n")
    fake_engine(tools)
    result = push(tools, "--tag", "1.2.3", "--dry-run")
    assert result.returncode == 1
    assert "is AWS CLI 1.45.11; version 2 is needed. Run make doctor." in result.stderr


# --------------------------------------------------------------------------- a real push


def test_a_push_hands_the_ecr_password_over_on_stdin_and_never_prints_it(tools: FakeTools) -> None:
    fake_aws(tools)
    fake_engine(tools)
    result = push(tools, "--tag", "1.2.3")
    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    uri = f"{REGISTRY}/bookapp:1.2.3"
    assert changed(tools) == [
        ["aws", "ecr", "create-repository", "--repository-name", "bookapp",
         "--image-tag-mutability", "IMMUTABLE", "--image-scanning-configuration",
         "scanOnPush=true", "--region", "eu-west-1"],
        ["docker", "build", "--platform", "linux/amd64", "--provenance=false", "--tag",
         "bookapp:1.2.3", "--file", "app/Dockerfile", "app"],
        ["aws", "ecr", "get-login-password", "--region", "eu-west-1"],
        ["docker", "login", "--username", "AWS", "--password-stdin", REGISTRY],
        ["docker", "tag", "bookapp:1.2.3", uri],
        ["docker", "push", uri],
    ]  # fmt: skip
    (login,) = [call for call in tools.calls("docker") if call.args[0] == "login"]
    assert login.stdin == PASSWORD
    assert PASSWORD not in " ".join(arg for call in tools.calls() for arg in call.args)
    assert f"ImageUri={uri}" in result.stdout.splitlines()


# --------------------------------------------------------------------------- through make


def test_make_push_passes_version_repository_and_dry_run(tmp_path: Path, tools: FakeTools) -> None:
    fake_aws(tools)
    fake_engine(tools)
    python_dir = tmp_path / "python"
    python_dir.mkdir()
    (python_dir / "python3").symlink_to(sys.executable)
    env = tools.env(AWS_DEFAULT_REGION="eu-west-1")
    env["PATH"] = f"{tools.bin}:{python_dir}:/usr/bin:/bin"
    result = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "push",
            "DRY_RUN=1",
            "VERSION=3.1.4",
            "REPOSITORY=team/bookapp",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"ImageUri={REGISTRY}/team/bookapp:3.1.4" in result.stdout.splitlines()
    assert changed(tools) == []
