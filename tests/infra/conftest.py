"""Synthesizes the O2C Hub app ONCE per session (two stages, cdk-nag on) and shares the result.

The Lambda layer must be built first (`make layer`; `make test` does it): the stack packages it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

REPO_ROOT = Path(__file__).resolve().parents[2]
LAYER_MARKER = REPO_ROOT / "build" / "layer" / ".built"
STAGE = "test"
OTHER_STAGE = "test2"
TEST_STAGE_CONTEXT = {
    "stripePartnerEventSource": "aws.partner/stripe.com/ed_test_61RdemoTest",
    "salesforcePartnerEventSource": "aws.partner/salesforce.com/00D5g000004DemoEAA/0YLtest",
    "salesforceOrgIds": "00D5g000004DemoEAA",
    "salesforceMyDomainUrl": "https://o2c-demo.my.salesforce.com",
    # who gets paged, and the per-region API Gateway account setting: the test stage owns it, test2 not
    "alarmEmails": ["oncall@example.com", "finance-ops@example.com"],
    "chatbotSlackWorkspaceId": "T0123ABCD",
    "chatbotSlackChannelId": "C0456EFGH",
    "apiGatewayAccountRole": True,
    # canary deploys as prod has them (test2 keeps the default, all at once)
    "lambdaDeployment": "Canary10Percent5Minutes",
}


@dataclass
class Synthesized:
    outdir: Path
    templates: dict[str, dict[str, Any]]
    #: construct path → metadata entries, per stage
    metadata: dict[str, dict[str, list[dict[str, Any]]]]
    validation_report: dict[str, Any]
    #: the synth error (cdk-nag validation failure), if any; the templates are written before validation
    error: str | None = None
    stack_names: dict[str, str] = field(default_factory=dict)


def require_layer() -> None:
    if not LAYER_MARKER.is_file():
        pytest.fail(
            f"{LAYER_MARKER.relative_to(REPO_ROOT)} is missing: build the Lambda layer first with "
            "`make layer` (or `.venv/bin/python scripts/build_layer.py`)",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    require_layer()
    from infra.app import create_app

    outdir = tmp_path_factory.mktemp("cdk.out")
    # The test stage wires both partner buses (as the local cloud does); the other stage leaves them off.
    context = {"stages": {STAGE: TEST_STAGE_CONTEXT}}
    app, stacks = create_app(context, outdir=str(outdir), stages=(STAGE, OTHER_STAGE))
    error = None
    try:
        app.synth()
    except RuntimeError as exc:  # ValidationFailed from cdk-nag: reported by the nag test
        error = str(exc)
    templates, metadata, names = {}, {}, {}
    for stack, stage in zip(stacks, (STAGE, OTHER_STAGE), strict=True):
        names[stage] = stack.stack_name
        templates[stage] = json.loads((outdir / f"{stack.artifact_id}.template.json").read_text())
        metadata_file = outdir / f"{stack.artifact_id}.metadata.json"
        if metadata_file.exists():
            metadata[stage] = json.loads(metadata_file.read_text())
        else:
            manifest = json.loads((outdir / "manifest.json").read_text())
            metadata[stage] = manifest["artifacts"][stack.artifact_id].get("metadata", {})
    report_file = outdir / "validation-report.json"
    report = json.loads(report_file.read_text()) if report_file.exists() else {"pluginReports": []}
    return Synthesized(outdir, templates, metadata, report, error, names)


@pytest.fixture(scope="session")
def template_json(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.templates[STAGE]


@pytest.fixture(scope="session")
def template(template_json: dict[str, Any]) -> Any:
    from aws_cdk.assertions import Template

    return Template.from_json(template_json)
