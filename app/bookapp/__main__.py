"""Command line: `python -m bookapp serve | migrate | publish-job NAME [--payload JSON]`.

Configuration errors print one line naming the variable and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from bookapp import logs
from bookapp.config import ConfigError, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bookapp", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the web server on PORT (the container's command)")
    commands.add_parser("migrate", help="upgrade the database schema to the newest revision")
    publish = commands.add_parser("publish-job", help="publish a job message to JOB_TOPIC_ARN")
    publish.add_argument("name", help="job name, e.g. db_migrate, db_seed, test_book_job")
    publish.add_argument("--payload", default="{}", help="job payload as a JSON object")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            from bookapp.migrate import check_schema_in_background  # noqa: PLC0415
            from bookapp.server import serve  # noqa: PLC0415

            settings = load_settings(os.environ)
            logs.configure(settings.log_level)
            check_schema_in_background(settings.require_database())
            serve(settings)
            return 0
        if args.command == "migrate":
            from bookapp.db import create_engine  # noqa: PLC0415
            from bookapp.migrate import upgrade_to_head  # noqa: PLC0415

            settings = load_settings(os.environ)
            logs.configure(settings.log_level)
            engine = create_engine(settings.require_database(), pool_size=1)
            try:
                before, after = upgrade_to_head(engine)
            finally:
                engine.dispose()
            print(f"schema at revision {after} (was {before})")
            return 0
        return _publish(args.name, args.payload)
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2


def _publish(name: str, raw_payload: str) -> int:
    from bookapp import aws  # noqa: PLC0415
    from bookapp.jobs import REGISTRY  # noqa: PLC0415

    settings = load_settings(os.environ, need_database=False, need_topic=True)
    if name not in REGISTRY:
        print(f"unknown job {name!r}; known jobs: {', '.join(sorted(REGISTRY))}", file=sys.stderr)
        return 2
    try:
        payload = json.loads(raw_payload)
    except json.JSONDecodeError as error:
        print(f"--payload is not JSON: {error}", file=sys.stderr)
        return 2
    if not isinstance(payload, dict):
        print("--payload must be a JSON object", file=sys.stderr)
        return 2
    topic = settings.require_topic()
    client = aws.sns_client(settings.topic_region or "us-east-1")
    message_id = aws.publish_job(client, topic, name, payload)
    print(message_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
