"""`make doctor`: each prerequisite of the AWS deploy path is checked, and what is missing is said
with how to get it.

The tools it checks (AWS CLI v2, a running Docker or Podman, credentials) are not on the build
machines, so each test runs the real script with a PATH of stand-in executables
(tests/support/fake_tools.py) set up for one situation, and asserts the lines it prints and its
exit code: 1 when something is missing, 0 when there are only warnings or nothing at all.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.fake_tools import FakeTools, run_tool

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "deploy_tools.py"
PINNED_SAM = re.search(
    r"^aws-sam-cli==(\S+)", (ROOT / "requirements-dev.in").read_text(), re.MULTILINE
)
assert PINNED_SAM is not None
SAM_VERSION = PINNED_SAM.group(1)
IDENTITY = {
    "UserId": "AROAEXAMPLE:alice",
    "Account": "123456789012",
    "Arn": "arn:aws:sts::123456789012:assumed-role/Deployer/alice",
}
NO_CREDENTIALS = (
    'Unable to locate credentials. You can configure credentials by running "aws configure".\n'
)


@dataclass
class Machine:
    """Fake tools on PATH, a fake virtualenv, and the environment to run the doctor in."""

    tools: FakeTools
    venv: FakeTools
    variables: dict[str, str]

    def doctor(self) -> tuple[int, list[str]]:
        result = run_tool(
            SCRIPT, ["doctor", "--venv", str(self.venv.root)], self.tools.env(**self.variables)
        )
        assert result.stderr == "", result.stderr
        return result.returncode, result.stdout.splitlines()


def machine(
    tmp_path: Path,
    *,
    aws: str | None = "aws-cli/2.17.20 Python/3.11.9 Linux/6.1 exe/x86_64.ubuntu.22\n",
    profile_region: str = "",
    credentials: bool = True,
    docker: str | None = "27.3.1",
    podman: str | None = None,
    venv_sam: str | None = SAM_VERSION,
    python313: bool = True,
    **variables: str,
) -> Machine:
    tools = FakeTools(tmp_path / "machine")
    tools.bin.mkdir(parents=True)
    if aws is not None:
        # AWS CLI v1 printed its version on stderr.
        on_stderr = aws.startswith("aws-cli/1.")
        tools.add(
            "aws", ["--version"], stdout="" if on_stderr else aws, stderr=aws if on_stderr else ""
        )
        tools.add(
            "aws",
            ["configure", "get", "region"],
            stdout=f"{profile_region}\n" if profile_region else "",
            code=0 if profile_region else 1,
        )
        if credentials:
            tools.add("aws", ["sts", "get-caller-identity"], stdout=json.dumps(IDENTITY))
        else:
            tools.add("aws", ["sts", "get-caller-identity"], stderr=NO_CREDENTIALS, code=253)
    for name, answer in (("docker", docker), ("podman", podman)):
        if answer == "down":
            tools.add(name, ["info"], stderr=f"Cannot connect to the {name} daemon.\n", code=1)
        elif answer is not None:
            tools.add(name, ["info"], stdout=f"{answer}\n")
    if python313:
        tools.add("python3.13", ["-c"], stdout="3.13\n")
    venv = FakeTools(tmp_path / "venv")
    venv.bin.mkdir(parents=True)
    if venv_sam is not None:
        venv.add("sam", ["--version"], stdout=f"SAM CLI, version {venv_sam}\n")
    return Machine(tools, venv, variables)


def finding(lines: list[str], level: str, start: str) -> list[str]:
    """The line `<level> <start>...` and its detail lines."""
    for index, line in enumerate(lines):
        if line.startswith(f"  {level:<8} {start}"):
            details = []
            for detail in lines[index + 1 :]:
                if not detail.startswith("           "):
                    break
                details.append(detail.strip())
            return [line.strip(), *details]
    raise AssertionError(f"no {level} line starting {start!r} in:\n" + "\n".join(lines))


# --------------------------------------------------------------------------- all there


def test_a_machine_with_everything_passes_and_says_which_account_and_region(
    tmp_path: Path,
) -> None:
    box = machine(tmp_path, AWS_DEFAULT_REGION="eu-west-1")
    code, lines = box.doctor()
    assert code == 0
    bin_dir = box.tools.bin
    assert finding(lines, "ok", "AWS CLI v2")[0] == f"ok       AWS CLI v2 2.17.20 ({bin_dir}/aws)"
    assert finding(lines, "ok", "region")[0] == (
        "ok       region: eu-west-1 (AWS_DEFAULT_REGION; the AWS CLI and SAM CLI agree)"
    )
    assert finding(lines, "ok", "credentials")[0] == (
        "ok       credentials: account 123456789012 as "
        "arn:aws:sts::123456789012:assumed-role/Deployer/alice"
    )
    assert finding(lines, "ok", "container engine")[0] == (
        f"ok       container engine: docker 27.3.1 ({bin_dir}/docker)"
    )
    assert finding(lines, "ok", "sam")[0] == f"ok       sam: .venv/bin/sam {SAM_VERSION}"
    assert finding(lines, "ok", "python3.13")[0] == f"ok       python3.13 ({bin_dir}/python3.13)"
    assert lines[-1] == "Everything the deploy path needs is there."
    (sts,) = [c for c in box.tools.calls("aws") if c.args[:1] == ["sts"]]
    assert sts.args[-2:] == ["--region", "eu-west-1"]


def test_the_profile_region_alone_is_enough(tmp_path: Path) -> None:
    code, lines = machine(tmp_path, profile_region="eu-central-1").doctor()
    assert code == 0
    assert "region: eu-central-1 (profile default;" in finding(lines, "ok", "region")[0]


# --------------------------------------------------------------------------- AWS CLI


def test_no_aws_cli_is_missing_with_where_to_get_version_2(tmp_path: Path) -> None:
    code, lines = machine(tmp_path, aws=None, AWS_DEFAULT_REGION="eu-west-1").doctor()
    assert code == 1
    missing = finding(lines, "MISSING", "AWS CLI v2")
    assert missing[0] == "MISSING  AWS CLI v2: not found on PATH"
    assert "getting-started-install" in missing[1]
    assert finding(lines, "MISSING", "credentials")[0].endswith(
        "cannot be checked without the AWS CLI"
    )
    assert lines[-1].startswith("2 missing")


def test_aws_cli_version_1_is_not_enough(tmp_path: Path) -> None:
    v1 = "aws-cli/1.45.11 Python/3.11.7 Linux/6.1 botocore/1.43.11\n"
    code, lines = machine(tmp_path, aws=v1, AWS_DEFAULT_REGION="eu-west-1").doctor()
    assert code == 1
    missing = finding(lines, "MISSING", "AWS CLI v2")
    assert "is AWS CLI 1.45.11, and version 1 is not enough" in missing[0]
    assert "v1 ignores AWS_REGION" in missing[1]
    assert "aws-cli/2" in missing[2]


# --------------------------------------------------------------------------- credentials


def test_no_credentials_are_missing_with_the_cli_reason_and_how_to_configure_them(
    tmp_path: Path,
) -> None:
    code, lines = machine(tmp_path, credentials=False, AWS_DEFAULT_REGION="eu-west-1").doctor()
    assert code == 1
    missing = finding(lines, "MISSING", "credentials")
    assert missing[1] == NO_CREDENTIALS.strip()
    assert "aws configure sso" in missing[2]
    assert "AWS_PROFILE" in missing[2]


# --------------------------------------------------------------------------- region


def test_no_region_at_all_is_missing(tmp_path: Path) -> None:
    code, lines = machine(tmp_path).doctor()
    assert code == 1
    missing = finding(lines, "MISSING", "region")
    assert missing[0] == "MISSING  region: none configured"
    assert "aws configure set region" in missing[1]


def test_aws_region_alone_warns_that_sam_cli_ignores_it(tmp_path: Path) -> None:
    code, lines = machine(tmp_path, AWS_REGION="eu-west-1").doctor()
    assert code == 0
    warning = finding(lines, "WARN", "region")
    assert warning[0] == "WARN     region: only AWS_REGION is set, and not every tool reads it"
    assert warning[2] == (
        "AWS CLI v2 (and make push) would use eu-west-1 (AWS_REGION); SAM CLI would use no "
        "region: it ignores AWS_REGION."
    )
    assert "--region" in warning[3]


def test_aws_region_and_aws_default_region_that_disagree_are_a_warning_naming_both(
    tmp_path: Path,
) -> None:
    box = machine(tmp_path, AWS_REGION="eu-west-1", AWS_DEFAULT_REGION="us-east-1")
    code, lines = box.doctor()
    assert code == 0
    warning = finding(lines, "WARN", "region")
    assert warning[0] == "WARN     region: your settings disagree"
    assert warning[1] == "AWS_REGION=eu-west-1, AWS_DEFAULT_REGION=us-east-1."
    assert (
        "would use eu-west-1 (AWS_REGION); SAM CLI would use us-east-1 (AWS_DEFAULT_REGION)"
        in (warning[2])
    )


def test_an_environment_region_that_overrides_the_profile_region_is_a_warning(
    tmp_path: Path,
) -> None:
    code, lines = machine(
        tmp_path, profile_region="eu-central-1", AWS_DEFAULT_REGION="us-east-1"
    ).doctor()
    assert code == 0
    warning = finding(lines, "WARN", "region")
    assert warning[1] == "AWS_DEFAULT_REGION=us-east-1, profile default=eu-central-1."


def test_a_profile_that_does_not_exist_is_missing(tmp_path: Path) -> None:
    box = machine(tmp_path, AWS_PROFILE="nope", AWS_DEFAULT_REGION="eu-west-1")
    box.tools.rules["aws"].insert(
        0,
        {
            "args": ["configure", "get", "region"],
            "stdout": "",
            "stderr": "\nThe config profile (nope) could not be found\n",
            "code": 255,
        },
    )
    (box.tools.root / "aws.rules.json").write_text(json.dumps(box.tools.rules["aws"]))
    code, lines = box.doctor()
    assert code == 1
    missing = finding(lines, "MISSING", "region")
    assert missing[0] == "MISSING  region: AWS_PROFILE=nope does not work"
    assert missing[1] == "The config profile (nope) could not be found"


# --------------------------------------------------------------------------- container engine


def test_no_container_engine_is_missing_and_says_only_image_and_push_need_one(
    tmp_path: Path,
) -> None:
    code, lines = machine(tmp_path, docker=None, AWS_DEFAULT_REGION="eu-west-1").doctor()
    assert code == 1
    missing = finding(lines, "MISSING", "container engine")[0]
    assert "neither docker nor podman is on PATH" in missing
    assert "Install Docker" in missing
    assert "Podman" in missing
    assert "make demo and make test do not" in missing


def test_docker_without_its_daemon_is_missing_with_how_to_start_it(tmp_path: Path) -> None:
    code, lines = machine(tmp_path, docker="down", AWS_DEFAULT_REGION="eu-west-1").doctor()
    assert code == 1
    missing = finding(lines, "MISSING", "container engine")
    assert missing[0] == "MISSING  container engine: installed but not answering"
    assert missing[1] == "docker: Cannot connect to the docker daemon."
    assert "systemctl start docker" in missing[2]


def test_podman_serves_when_docker_does_not_answer(tmp_path: Path) -> None:
    box = machine(tmp_path, docker="down", podman="5.2.3", AWS_DEFAULT_REGION="eu-west-1")
    code, lines = box.doctor()
    assert code == 0
    found = finding(lines, "ok", "container engine")
    assert found[0] == f"ok       container engine: podman 5.2.3 ({box.tools.bin}/podman)"
    assert (
        found[1] == "docker is installed but does not answer: Cannot connect to the docker daemon."
    )


# --------------------------------------------------------------------------- sam and python


def test_no_virtualenv_sam_is_missing_and_points_at_make_venv(tmp_path: Path) -> None:
    code, lines = machine(tmp_path, venv_sam=None, AWS_DEFAULT_REGION="eu-west-1").doctor()
    assert code == 1
    missing = finding(lines, "MISSING", "sam")
    assert missing[0].endswith("/bin/sam not found")
    assert f"pinned SAM CLI {SAM_VERSION}" in missing[1]
    assert ".venv/bin/sam" in missing[1]


def test_a_sam_on_path_of_another_version_is_a_warning_to_use_the_pinned_one(
    tmp_path: Path,
) -> None:
    box = machine(tmp_path, AWS_DEFAULT_REGION="eu-west-1")
    box.tools.add("sam", ["--version"], stdout="SAM CLI, version 1.99.0\n")
    code, lines = box.doctor()
    assert code == 0
    warning = finding(lines, "WARN", "sam")
    assert warning[0] == f"WARN     sam: the `sam` on your PATH ({box.tools.bin}/sam) is 1.99.0"
    assert f"pins {SAM_VERSION}: type `.venv/bin/sam`" in warning[1]
    assert finding(lines, "ok", "sam")[1:] == []


def test_sam_not_on_path_is_fine_but_said(tmp_path: Path) -> None:
    code, lines = machine(tmp_path, AWS_DEFAULT_REGION="eu-west-1").doctor()
    assert code == 0
    assert finding(lines, "ok", "sam")[1] == (
        "`sam` alone is not on your PATH: type `.venv/bin/sam`, or use the make targets."
    )


def test_no_python_3_13_is_missing(tmp_path: Path) -> None:
    code, lines = machine(tmp_path, python313=False, AWS_DEFAULT_REGION="eu-west-1").doctor()
    assert code == 1
    missing = finding(lines, "MISSING", "python3.13")
    assert missing[0] == "MISSING  python3.13: not found"
    assert "pyenv install 3.13" in missing[1]


def test_a_python3_13_that_is_another_version_does_not_count(tmp_path: Path) -> None:
    box = machine(tmp_path, python313=False, AWS_DEFAULT_REGION="eu-west-1")
    box.tools.add("python3.13", ["-c"], stdout="3.11\n")
    code, lines = box.doctor()
    assert code == 1
    assert finding(lines, "MISSING", "python3.13")[0] == "MISSING  python3.13: not found"


# --------------------------------------------------------------------------- through make


def test_make_doctor_sees_your_region_not_the_makefile_default(tmp_path: Path) -> None:
    """The Makefile sets AWS_DEFAULT_REGION=us-east-1 for the offline tools; make doctor must not
    see it, or it would report a region you never chose."""
    box = machine(tmp_path, profile_region="eu-west-1")
    python_dir = tmp_path / "python"
    python_dir.mkdir()
    (python_dir / "python3").symlink_to(sys.executable)
    env = box.tools.env()
    env["PATH"] = f"{box.tools.bin}:{python_dir}:/usr/bin:/bin"
    result = subprocess.run(
        ["make", "--no-print-directory", "doctor"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = result.stdout.splitlines()
    assert (
        "region: eu-west-1 (profile default; the AWS CLI and SAM CLI agree)"
        in (finding(lines, "ok", "region")[0])
    )
    assert "us-east-1" not in result.stdout
    assert box.tools.calls("aws"), "make doctor did not use the aws on your PATH"
