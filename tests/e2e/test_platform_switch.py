"""End to end: a change of ComputePlatform on a running stack, on a rehearsal of its own.

The switch changes which app runs and where the subscription points, so it does not share the
rehearsal of test_rehearsal.py (whose tests run in any order): its fixture deploys one for this
module alone (about 15 s).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bookapp.jobs import SEED_BOOKS
from harness.contract import parse_secret_reference
from harness.demo import Rehearsal
from tests.e2e.conftest import CONTRACT_VARIABLES, deployed_rehearsal, job_answers

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def switchable() -> Iterator[Rehearsal]:
    with deployed_rehearsal() as stack:
        yield stack


def test_switching_to_ecs_express_moves_the_app_and_its_subscription_and_keeps_the_data(
    switchable: Rehearsal,
) -> None:
    rehearsal = switchable
    old_app, old_url = rehearsal.app, rehearsal.app_url
    old_contract, old_environment = rehearsal.contract, dict(rehearsal.app_environment)
    old_arn = rehearsal.physical_ids["JobSubscription"]
    runs_before = rehearsal.job_runs()
    assert old_app is not None
    assert old_contract is not None

    rehearsal.switch_platform("EcsExpress")

    switched = rehearsal.reporter.results[-5:]
    assert [r.name for r in switched] == [
        "start the app with the ECS Express contract beside the App Runner one",
        "Custom::HttpsSubscription Update to the new job endpoint",
        "Custom::HttpsSubscription Delete of the old subscription",
        "Custom::JobRun Update (new Platform): db_migrate on the new app",
        "stop the App Runner app",
    ]
    assert all(r.ok for r in switched)
    # The app now runs with the contract of the nested template's Express service: the same
    # variables and the same secret reference, read as ECS reads ValueFrom.
    contract = rehearsal.contract
    assert contract is not None
    assert (contract.platform, contract.service) == ("EcsExpress", "ExpressApiService")
    assert contract.source == rehearsal.build_dir / "ExpressApiService" / "template.yaml"
    assert set(contract.environment) == CONTRACT_VARIABLES
    unchanged = {k: v for k, v in contract.environment.items() if k != "PORT"}
    assert unchanged == {k: v for k, v in old_contract.environment.items() if k != "PORT"}
    assert contract.secrets == old_contract.secrets
    assert parse_secret_reference(contract.secrets["DATABASE_URL"]).json_key == "DATABASE_URL"
    assert rehearsal.app_environment["DATABASE_URL"] == old_environment["DATABASE_URL"]
    # The old app is gone; the subscription moved, confirmed before the old one was removed.
    assert not old_app.alive()
    assert rehearsal.app is not old_app
    assert rehearsal.app_url != old_url
    new_arn = rehearsal.physical_ids["JobSubscription"]
    assert new_arn != old_arn
    sns = rehearsal.client("sns")
    attributes = sns.get_subscription_attributes(SubscriptionArn=new_arn)["Attributes"]
    assert (attributes["Endpoint"], attributes["PendingConfirmation"]) == (
        f"{rehearsal.app_url}/jobs",
        "false",
    )
    left = sns.list_subscriptions_by_topic(TopicArn=rehearsal.resources.topic_arn)
    assert old_arn not in {s["SubscriptionArn"] for s in left["Subscriptions"]}
    # The data stayed: every earlier run is still recorded, plus the migration on the new app.
    runs_after = rehearsal.job_runs()
    assert runs_after[: len(runs_before)] == runs_before
    assert [run["job"] for run in runs_after[len(runs_before) :]] == ["db_migrate"]
    # The whole job flow on the new contract.
    message_id = rehearsal.publish("test_book_job")
    assert rehearsal.wait_for_run(message_id, timeout=15)["status"] == "succeeded"
    assert job_answers(rehearsal, message_id, count=1) == [200]
    books, _detail = rehearsal.check_books()
    assert sorted(book["isbn"] for book in books) == sorted(book["isbn"] for book in SEED_BOOKS)
