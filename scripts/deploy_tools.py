#!/usr/bin/env python3
"""The AWS deploy path's tooling behind `make doctor`, `make image` and `make push`.

Why it exists: the deploy path needs tools that differ in small, costly ways. AWS CLI v1 and SAM
CLI ignore AWS_REGION while AWS CLI v2 honours it, so an image can be pushed to one region and the
stack deployed to another; `sam` lives in .venv/bin, not on PATH; the image needs Docker or Podman.

- `doctor` checks each prerequisite and says what is missing and how to get it (exit 1 when
  something is missing; warnings alone exit 0).
- `image` builds app/Dockerfile with Docker or Podman, tagged per release (`--tag`, else
  `git describe --tags --always --dirty`).
- `push` builds, makes sure the ECR repository exists in the configured account and region
  (created with scan on push and immutable tags when absent), pushes, and prints the exact
  ImageUri to give `sam deploy`.

Every command `image` and `push` run is printed. With `--dry-run` the commands that change
something (build, create the repository, log in, tag, push) are printed and not run; the read-only
look-ups (the account, the repository, the tag) still run. The ECR password goes from one process
to the other on stdin and is never printed.

It runs before `make venv` exists: standard library only, Python 3.9 or newer.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = "docs/deploy.md"
INSTALL_AWS_CLI = "https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html"
INSTALL_DOCKER = "https://docs.docker.com/get-started/get-docker/"
INSTALL_PODMAN = "https://podman.io/docs/installation"
ENGINES = ("docker", "podman")
AWS_TIMEOUT = 30
LOCAL_TIMEOUT = 30
# The tag and repository rules of the template's ImageUri AllowedPattern (and of ECR).
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
REPOSITORY = re.compile(r"[a-z0-9]+(?:[._/-][a-z0-9]+)*")
REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d")

OK, WARN, MISSING = "ok", "WARN", "MISSING"


class ToolError(Exception):
    """Something the person running the tool must fix; the message says what and how."""


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    def last_line(self) -> str:
        """The most telling line of the error output (the CLIs put the reason last)."""
        lines = [line.strip() for line in (self.stderr or self.stdout).splitlines() if line.strip()]
        return lines[-1][:300] if lines else f"exit code {self.code}"


def run(
    argv: list[str], *, timeout: int, stdin_text: str | None = None, cwd: Path | None = None
) -> Result:
    env = dict(os.environ)
    env["AWS_PAGER"] = ""  # AWS CLI v2 would otherwise page long output through `less`
    try:
        completed = subprocess.run(
            argv,
            input=stdin_text,
            stdin=None if stdin_text is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=cwd,
            check=False,
        )
    except FileNotFoundError:
        return Result(127, "", f"{argv[0]}: not found")
    except subprocess.TimeoutExpired:
        return Result(124, "", f"no answer within {timeout} s (offline, or a proxy in the way?)")
    return Result(completed.returncode, completed.stdout, completed.stderr)


# --------------------------------------------------------------------------- AWS CLI and region


@dataclass(frozen=True)
class AwsCli:
    path: str
    version: str

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])


def find_aws_cli() -> tuple[AwsCli | None, str]:
    """The AWS CLI on PATH and its version, or None and why not."""
    path = shutil.which("aws")
    if path is None:
        return None, "not found on PATH"
    result = run([path, "--version"], timeout=LOCAL_TIMEOUT)
    # v1 printed its version to stderr, v2 prints it to stdout.
    match = re.search(r"aws-cli/(\d+\.\d+\.\d+)", result.stdout + result.stderr)
    if match is None:
        return None, f"{path} did not report a version ({result.last_line()})"
    return AwsCli(path, match.group(1)), ""


@dataclass(frozen=True)
class Regions:
    """Where each tool would take its region from."""

    aws_region: str
    default_region: str
    profile: str
    profile_region: str
    profile_problem: str = ""

    def for_aws_cli(self, major: int) -> tuple[str, str]:
        if major >= 2 and self.aws_region:
            return self.aws_region, "AWS_REGION"
        return self.for_sam_cli()

    def for_sam_cli(self) -> tuple[str, str]:
        """SAM CLI (botocore) reads AWS_DEFAULT_REGION, then the profile; never AWS_REGION."""
        if self.default_region:
            return self.default_region, "AWS_DEFAULT_REGION"
        if self.profile_region:
            return self.profile_region, f"profile {self.profile}"
        return "", ""

    def settings(self) -> list[tuple[str, str]]:
        found = [
            ("AWS_REGION", self.aws_region),
            ("AWS_DEFAULT_REGION", self.default_region),
            (f"profile {self.profile}", self.profile_region),
        ]
        return [(source, value) for source, value in found if value]


def read_regions(aws: AwsCli | None) -> Regions:
    profile = os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE") or "default"
    profile_region, problem = "", ""
    if aws is not None:
        # `aws configure get` reads the config file only, not the environment.
        result = run([aws.path, "configure", "get", "region"], timeout=LOCAL_TIMEOUT)
        if result.code == 0:
            profile_region = result.stdout.strip()
        elif "could not be found" in result.stderr:
            problem = result.last_line()
    return Regions(
        aws_region=os.environ.get("AWS_REGION", "").strip(),
        default_region=os.environ.get("AWS_DEFAULT_REGION", "").strip(),
        profile=profile,
        profile_region=profile_region,
        profile_problem=problem,
    )


def push_region(explicit: str, aws: AwsCli, regions: Regions) -> str:
    """The region to push to: REGION if given, else the one the AWS CLI and SAM CLI agree on."""
    if explicit:
        region = explicit
    else:
        cli_region, cli_source = regions.for_aws_cli(aws.major)
        sam_region, sam_source = regions.for_sam_cli()
        if not cli_region and not sam_region:
            raise ToolError(
                "no AWS region is configured. Set one for every tool: `aws configure set region "
                "<region>` or `export AWS_DEFAULT_REGION=<region>` (or give REGION=<region>)."
            )
        if cli_region != sam_region:
            raise ToolError(
                f"the AWS CLI would push to {cli_region or 'no region'} "
                f"({cli_source or 'none set'}) but SAM CLI would deploy to "
                f"{sam_region or 'no region'} ({sam_source or 'it ignores AWS_REGION'}). "
                "Make them agree (run `make doctor`), "
                "or give REGION=<region> here and --region <region> to sam deploy."
            )
        region = cli_region
    if REGION.fullmatch(region) is None:
        raise ToolError(f"{region!r} is not an AWS region name such as eu-west-1")
    return region


def registry_host(account: str, region: str) -> str:
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{suffix}"


# --------------------------------------------------------------------------- doctor


@dataclass
class Finding:
    level: str
    what: str
    details: list[str] = field(default_factory=list)


def check_aws_cli(aws: AwsCli | None, problem: str) -> Finding:
    if aws is None:
        return Finding(
            MISSING, f"AWS CLI v2: {problem}", [f"Install AWS CLI version 2: {INSTALL_AWS_CLI}"]
        )
    if aws.major < 2:
        return Finding(
            MISSING,
            f"AWS CLI v2: {aws.path} is AWS CLI {aws.version}, and version 1 is not enough",
            [
                "v1 ignores AWS_REGION and the deploy steps are written for v2.",
                f"Install version 2 ({INSTALL_AWS_CLI}); `aws --version` must say aws-cli/2.",
            ],
        )
    return Finding(OK, f"AWS CLI v2 {aws.version} ({aws.path})")


def check_region(aws: AwsCli | None, regions: Regions) -> tuple[Finding, str]:
    """The finding, and the region the AWS CLI will use ('' when none)."""
    major = aws.major if aws is not None else 2
    cli_region, cli_source = regions.for_aws_cli(major)
    sam_region, sam_source = regions.for_sam_cli()
    if regions.profile_problem:
        return Finding(
            MISSING,
            f"region: AWS_PROFILE={regions.profile} does not work",
            [regions.profile_problem, "Name a profile `aws configure list-profiles` shows."],
        ), cli_region
    settings = regions.settings()
    if not settings:
        return Finding(
            MISSING,
            "region: none configured",
            [
                "Set one region for every tool: `aws configure set region <region>` (your "
                "profile; the AWS CLI and SAM CLI both read it) or `export AWS_DEFAULT_REGION="
                "<region>`.",
            ],
        ), ""
    values = {value for _, value in settings}
    if len(values) == 1 and cli_region and cli_region == sam_region:
        sources = ", ".join(source for source, _ in settings)
        return Finding(
            OK, f"region: {cli_region} ({sources}; the AWS CLI and SAM CLI agree)"
        ), cli_region
    details = [", ".join(f"{source}={value}" for source, value in settings) + "."]
    ignores = "AWS_REGION" if major >= 2 else "AWS_REGION, as AWS CLI v1 does"
    details.append(
        f"AWS CLI v{major} (and make push) would use {cli_region or 'no region'}"
        f"{f' ({cli_source})' if cli_source else ''}; SAM CLI would use "
        f"{sam_region or 'no region'}{f' ({sam_source})' if sam_source else ''}: it ignores "
        f"{ignores}."
    )
    details.append(
        "Make them one region (`export AWS_DEFAULT_REGION=<region>` and `aws configure set "
        "region <region>`), and always give sam deploy --region <region>."
    )
    title = (
        "region: your settings disagree"
        if len(values) > 1
        else f"region: only {settings[0][0]} is set, and not every tool reads it"
    )
    return Finding(WARN, title, details), cli_region


def check_credentials(aws: AwsCli | None, region: str) -> Finding:
    if aws is None:
        return Finding(MISSING, "credentials: cannot be checked without the AWS CLI")
    argv = [aws.path, "sts", "get-caller-identity", "--output", "json"]
    if region:
        argv += ["--region", region]
    result = run(argv, timeout=AWS_TIMEOUT)
    if result.code == 0:
        try:
            identity = json.loads(result.stdout)
            return Finding(OK, f"credentials: account {identity['Account']} as {identity['Arn']}")
        except (ValueError, KeyError, TypeError):
            pass
    return Finding(
        MISSING,
        "credentials: `aws sts get-caller-identity` failed",
        [
            result.last_line(),
            "Configure them: `aws configure sso` (IAM Identity Center), `aws configure` (access "
            "keys), or `export AWS_PROFILE=<profile>`; when an SSO session expired: "
            "`aws sso login`.",
        ],
    )


@dataclass(frozen=True)
class Engine:
    name: str
    path: str


def engines_on_path(choice: str) -> list[Engine]:
    if choice and choice not in ENGINES:
        raise ToolError(f"CONTAINER_ENGINE must be docker or podman, not {choice!r}")
    found = []
    for name in [choice] if choice else list(ENGINES):
        path = shutil.which(name)
        if path is not None:
            found.append(Engine(name, path))
    return found


def engine_answers(engine: Engine) -> Result:
    template = "{{.ServerVersion}}" if engine.name == "docker" else "{{.Version.Version}}"
    return run([engine.path, "info", "--format", template], timeout=LOCAL_TIMEOUT)


def no_engine_message(choice: str) -> str:
    missing = f"{choice} is not on PATH" if choice else "neither docker nor podman is on PATH"
    return (
        f"{missing}. Install Docker ({INSTALL_DOCKER}) or Podman ({INSTALL_PODMAN}) to build "
        "the image. Only make image and make push need one; make demo and make test do not."
    )


def check_engine(choice: str) -> Finding:
    try:
        found = engines_on_path(choice)
    except ToolError as error:
        return Finding(MISSING, f"container engine: {error}")
    if not found:
        return Finding(MISSING, f"container engine: {no_engine_message(choice)}")
    failures: list[tuple[str, str]] = []
    for engine in found:
        result = engine_answers(engine)
        if result.code == 0:
            version = result.stdout.strip() or "version unknown"
            return Finding(
                OK,
                f"container engine: {engine.name} {version} ({engine.path})",
                [f"{name} is installed but does not answer: {why}" for name, why in failures],
            )
        failures.append((engine.name, result.last_line()))
    return Finding(
        MISSING,
        "container engine: installed but not answering",
        [f"{name}: {why}" for name, why in failures]
        + [
            "Start it: Docker Desktop, or `sudo systemctl start docker`; for Podman on macOS or "
            "Windows `podman machine start`."
        ],
    )


def pinned_sam_version() -> str:
    text = (ROOT / "requirements-dev.in").read_text(encoding="utf-8")
    match = re.search(r"^aws-sam-cli==(\S+)", text, re.MULTILINE)
    return match.group(1) if match else "?"


def sam_version(path: str) -> str:
    result = run([path, "--version"], timeout=LOCAL_TIMEOUT)
    match = re.search(r"(\d+\.\d+\.\d+)", result.stdout + result.stderr)
    return match.group(1) if result.code == 0 and match else ""


def check_sam(venv: Path) -> list[Finding]:
    pinned = pinned_sam_version()
    own = venv / "bin" / "sam"
    if not own.exists():
        return [
            Finding(
                MISSING,
                f"sam: {own.relative_to(ROOT) if own.is_relative_to(ROOT) else own} not found",
                [
                    f"Run `make venv`: it installs the pinned SAM CLI {pinned} into .venv. Then "
                    "use `.venv/bin/sam` or the make targets (make build, make validate)."
                ],
            )
        ]
    version = sam_version(str(own))
    findings = [Finding(OK, f"sam: .venv/bin/sam {version or 'version unknown'}")]
    if version != pinned:
        findings.append(
            Finding(
                WARN, f"sam: .venv has {version}, the project pins {pinned}", ["Run `make venv`."]
            )
        )
    on_path = shutil.which("sam")
    if on_path is None:
        findings[0].details.append(
            "`sam` alone is not on your PATH: type `.venv/bin/sam`, or use the make targets."
        )
    elif Path(on_path).resolve() != own.resolve():
        other = sam_version(on_path)
        if other != pinned:
            findings.append(
                Finding(
                    WARN,
                    f"sam: the `sam` on your PATH ({on_path}) is {other or 'of unknown version'}",
                    [f"This project pins {pinned}: type `.venv/bin/sam`, or use the make targets."],
                )
            )
    return findings


def check_python() -> Finding:
    path = shutil.which("python3.13")
    if path is not None:
        result = run(
            [path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            timeout=LOCAL_TIMEOUT,
        )
        if result.stdout.strip() == "3.13":
            return Finding(OK, f"python3.13 ({path})")
    pyenv = shutil.which("pyenv")
    if pyenv is not None:
        root = run([pyenv, "root"], timeout=LOCAL_TIMEOUT).stdout.strip()
        versions = sorted(Path(root, "versions").glob("3.13*/bin/python3.13")) if root else []
        if versions:
            return Finding(
                WARN,
                f"python3.13: not on your PATH, but pyenv has {versions[-1]}",
                [
                    "The make targets find it (make venv, make build). To run `.venv/bin/sam "
                    "build` yourself, put it on PATH first (e.g. `pyenv shell 3.13`).",
                ],
            )
    return Finding(
        MISSING,
        "python3.13: not found",
        [
            "Install Python 3.13 (`pyenv install 3.13`, or your OS package python3.13): make venv "
            "needs it, and sam build builds the functions for the python3.13 Lambda runtime."
        ],
    )


def doctor(engine_choice: str, venv: Path) -> int:
    aws, aws_problem = find_aws_cli()
    regions = read_regions(aws)
    region_finding, region = check_region(aws, regions)
    findings = [
        check_aws_cli(aws, aws_problem),
        region_finding,
        check_credentials(aws, region),
        check_engine(engine_choice),
        *check_sam(venv),
        check_python(),
    ]
    print(f"What the AWS deploy path needs ({DOCS}):\n")
    for finding in findings:
        print(f"  {finding.level:<8} {finding.what}")
        for line in finding.details:
            print(f"           {line}")
    missing = sum(f.level == MISSING for f in findings)
    warnings = sum(f.level == WARN for f in findings)
    print()
    if missing:
        print(
            f"{missing} missing, {warnings} warning(s): fix the MISSING lines, then run "
            "make doctor again."
        )
        return 1
    if warnings:
        print(f"Nothing missing; {warnings} warning(s) to read.")
    else:
        print("Everything the deploy path needs is there.")
    return 0


# --------------------------------------------------------------------------- image and push


@dataclass(frozen=True)
class Build:
    repository: str
    tag: str
    dirty: bool
    platform: str
    engine: Engine
    dry_run: bool

    @property
    def local_name(self) -> str:
        return f"{self.repository}:{self.tag}"


def show(argv: list[str]) -> str:
    return shlex.join(argv)


def act(argv: list[str], *, dry_run: bool, what: str) -> None:
    """Run a command that changes something, or print it under --dry-run."""
    if dry_run:
        print(f"would run: {show(argv)}")
        return
    print(f"+ {show(argv)}", flush=True)
    # Build and push show their own progress: not captured.
    completed = subprocess.run(argv, cwd=ROOT, check=False, stdin=subprocess.DEVNULL)
    if completed.returncode != 0:
        raise ToolError(f"{what} failed (exit code {completed.returncode}); see the output above")


def release_tag(explicit: str) -> tuple[str, bool]:
    """The image tag and whether the working tree had uncommitted changes."""
    if explicit:
        if TAG.fullmatch(explicit) is None:
            raise ToolError(
                f"VERSION {explicit!r} is not an image tag: 1 to 128 letters, digits, '_', '.' or "
                "'-', not starting with '.' or '-'"
            )
        return explicit, False
    git = shutil.which("git")
    if git is None:
        raise ToolError("git is not on PATH, so the release cannot be named: give VERSION=<tag>")
    result = run(
        [git, "describe", "--tags", "--always", "--dirty"], timeout=LOCAL_TIMEOUT, cwd=ROOT
    )
    if result.code != 0:
        raise ToolError(f"git describe failed ({result.last_line()}): give VERSION=<tag>")
    tag = re.sub(r"[^A-Za-z0-9_.-]", "-", result.stdout.strip()).lstrip(".-")[:128]
    if TAG.fullmatch(tag) is None:
        raise ToolError(f"git describe gave {result.stdout.strip()!r}: give VERSION=<tag>")
    return tag, tag.endswith("-dirty")


def choose_engine(choice: str, *, dry_run: bool) -> Engine:
    found = engines_on_path(choice)
    if not found:
        raise ToolError(no_engine_message(choice))
    if dry_run:
        return found[0]
    failures = []
    for engine in found:
        result = engine_answers(engine)
        if result.code == 0:
            return engine
        failures.append(f"{engine.name}: {result.last_line()}")
    raise ToolError(
        "the container engine does not answer (" + "; ".join(failures) + "). Start it: Docker "
        "Desktop, `sudo systemctl start docker`, or `podman machine start`."
    )


def build_command(build: Build) -> list[str]:
    argv = [build.engine.name, "build", "--platform", build.platform]
    if build.engine.name == "docker":
        # BuildKit would otherwise add a provenance attestation and push an image index.
        argv.append("--provenance=false")
    else:
        # Podman's default OCI format is not what every AWS consumer of ECR images reads.
        argv += ["--format", "docker"]
    return [*argv, "--tag", build.local_name, "--file", "app/Dockerfile", "app"]


def make_build(args: argparse.Namespace) -> Build:
    if REPOSITORY.fullmatch(args.repository) is None:
        raise ToolError(
            f"REPOSITORY {args.repository!r} is not an ECR repository name (lowercase letters, "
            "digits, and . _ - / between them)"
        )
    tag, dirty = release_tag(args.tag)
    engine = choose_engine(args.engine, dry_run=args.dry_run)
    return Build(args.repository, tag, dirty, args.platform, engine, args.dry_run)


def image(args: argparse.Namespace) -> int:
    build = make_build(args)
    act(build_command(build), dry_run=build.dry_run, what="the image build")
    print(f"\nImage {build.local_name} ({build.platform}). Next: make push VERSION={build.tag}")
    return 0


def aws_or_error() -> AwsCli:
    aws, problem = find_aws_cli()
    if aws is None:
        raise ToolError(f"AWS CLI v2: {problem}. Run make doctor.")
    if aws.major < 2:
        raise ToolError(
            f"{aws.path} is AWS CLI {aws.version}; version 2 is needed. Run make doctor."
        )
    return aws


def account_of(aws: AwsCli, region: str) -> str:
    argv = ["sts", "get-caller-identity", "--query", "Account", "--output", "text"]
    result = run([aws.path, *argv, "--region", region], timeout=AWS_TIMEOUT)
    account = result.stdout.strip()
    if result.code != 0 or re.fullmatch(r"\d{12}", account) is None:
        raise ToolError(
            f"the AWS account could not be read ({result.last_line()}). Run make doctor."
        )
    return account


def ensure_repository(aws: AwsCli, build: Build, region: str) -> None:
    """The repository exists (or would be created); the tag is free in it."""
    base = [aws.path, "ecr"]
    where = ["--region", region, "--output", "json"]
    found = run(
        [*base, "describe-repositories", "--repository-names", build.repository, *where],
        timeout=AWS_TIMEOUT,
    )
    if found.code != 0:
        if "RepositoryNotFoundException" not in found.stderr:
            raise ToolError(f"aws ecr describe-repositories failed: {found.last_line()}")
        create = [
            "aws", "ecr", "create-repository", "--repository-name", build.repository,
            "--image-tag-mutability", "IMMUTABLE",
            "--image-scanning-configuration", "scanOnPush=true",
            "--region", region,
        ]  # fmt: skip
        act(create, dry_run=build.dry_run, what="creating the ECR repository")
        return
    repository = json.loads(found.stdout)["repositories"][0]
    immutable = repository.get("imageTagMutability") == "IMMUTABLE"
    scanned = repository.get("imageScanningConfiguration", {}).get("scanOnPush") is True
    if not (immutable and scanned):
        print(
            f"note: repository {build.repository} has tags "
            f"{repository.get('imageTagMutability', '?')} and scan on push "
            f"{'on' if scanned else 'off'}; make push creates repositories with IMMUTABLE tags "
            "and scan on push (aws ecr put-image-tag-mutability, "
            "put-image-scanning-configuration)."
        )
    existing = run(
        [*base, "describe-images", "--repository-name", build.repository,
         "--image-ids", f"imageTag={build.tag}", *where],
        timeout=AWS_TIMEOUT,
    )  # fmt: skip
    if existing.code == 0 and immutable:
        raise ToolError(
            f"tag {build.tag} is already in {build.repository}, and its tags are immutable. If it "
            "is this build, deploy it as it is (make push prints nothing new); otherwise give a "
            "new VERSION=<tag>."
        )
    if existing.code != 0 and "ImageNotFoundException" not in existing.stderr:
        raise ToolError(f"aws ecr describe-images failed: {existing.last_line()}")


def log_in(aws: AwsCli, build: Build, region: str, registry: str) -> None:
    login = [build.engine.name, "login", "--username", "AWS", "--password-stdin", registry]
    shown = f"aws ecr get-login-password --region {region} | {show(login)}"
    if build.dry_run:
        print(f"would run: {shown}")
        return
    print(f"+ {shown}", flush=True)
    password = run([aws.path, "ecr", "get-login-password", "--region", region], timeout=AWS_TIMEOUT)
    if password.code != 0:
        raise ToolError(f"aws ecr get-login-password failed: {password.last_line()}")
    result = run(login, timeout=AWS_TIMEOUT, stdin_text=password.stdout.strip())
    if result.code != 0:
        raise ToolError(f"{build.engine.name} login to {registry} failed: {result.last_line()}")


def push(args: argparse.Namespace) -> int:
    aws = aws_or_error()
    region = push_region(args.region, aws, read_regions(aws))
    account = account_of(aws, region)
    build = make_build(args)
    if build.dirty and not args.tag:
        raise ToolError(
            f"the working tree has uncommitted changes (git describe: {build.tag}), so the tag "
            "would not name one build. Commit first, or give VERSION=<tag>."
        )
    registry = registry_host(account, region)
    uri = f"{registry}/{build.repository}:{build.tag}"
    ensure_repository(aws, build, region)
    act(build_command(build), dry_run=build.dry_run, what="the image build")
    log_in(aws, build, region, registry)
    act([build.engine.name, "tag", build.local_name, uri], dry_run=build.dry_run, what="tagging")
    act([build.engine.name, "push", uri], dry_run=build.dry_run, what="the push")
    overrides = f"--region {region} --parameter-overrides ImageUri={uri}"
    print(
        f"\n{'Would push' if build.dry_run else 'Pushed'} the image. Give sam deploy:\n\n"
        f"ImageUri={uri}\n\n"
        "First deploy:\n"
        "  make build\n"
        f"  .venv/bin/sam deploy --guided {overrides}\n"
        "Later deploys (every parameter you do not name keeps its value):\n"
        f"  make build && .venv/bin/sam deploy {overrides}"
    )
    return 0


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("doctor", help="check the prerequisites of the deploy path")
    for name in ("image", "push"):
        sub = commands.add_parser(name)
        sub.add_argument("--repository", default="bookapp")
        sub.add_argument("--tag", default="", help="release tag (default: git describe)")
        sub.add_argument("--platform", default="linux/amd64")
        sub.add_argument("--dry-run", action="store_true")
        if name == "push":
            sub.add_argument("--region", default="", help="default: your AWS configuration")
    for sub in commands.choices.values():
        sub.add_argument("--engine", default="", help="docker or podman (default: either)")
    check.add_argument("--venv", type=Path, default=ROOT / ".venv")
    args = parser.parse_args(argv)
    try:
        if args.command == "doctor":
            return doctor(args.engine, args.venv)
        if args.command == "image":
            return image(args)
        return push(args)
    except ToolError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
