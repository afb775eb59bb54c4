"""The O2C Hub stack: composes one construct per concern; resources travel through constructor arguments."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.bus import EventBusWithArchive
from infra.constructs.claimcheck import ClaimCheckBucket
from infra.constructs.dashboard import Operations
from infra.constructs.data import DataTables
from infra.constructs.deployments import Canaries
from infra.constructs.functions import Functions
from infra.constructs.governed_api import GovernedApi
from infra.constructs.iam_api import IamApi
from infra.constructs.ingress import WebhookApi
from infra.constructs.layer import SharedLayer
from infra.constructs.observability import Alarms
from infra.constructs.operators import OperatorPolicies
from infra.constructs.orchestration import QuoteToCash
from infra.constructs.routing import Routing
from infra.constructs.schedules import Schedules
from infra.constructs.schemas import EventSchemas
from infra.constructs.secrets import Secrets
from infra.constructs.warehouse import Warehouse
from infra.topology import API_FUNCTION, CONSUMERS, PARTNER_BUSES, TABLES, bus_name


def stack_name(stage: str) -> str:
    return f"O2CHub-{stage}"


class O2CHubStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs: Any) -> None:
        super().__init__(
            scope, construct_id, description=f"O2C Hub integration hub ({config.stage})", **kwargs
        )
        data = DataTables(self, "Data")
        secrets = Secrets(self, "Secrets")
        bus = EventBusWithArchive(
            self, "EventBus", stage=config.stage, archive_retention=config.archive_retention
        )
        schemas = EventSchemas(self, "EventSchemas", config=config)
        layer = SharedLayer(self, "SharedLayer")
        claim_checks = ClaimCheckBucket(self, "ClaimChecks")
        functions = Functions(
            self,
            "Functions",
            config=config,
            layer=layer.layer,
            tables=data.tables,
            secrets=secrets.secrets,
            bus=bus.bus,
            claim_checks=claim_checks.bucket,
        )
        # Everything that invokes a function (routes, queues, schedules, tasks, operators) invokes its alias.
        by_id: dict[str, lambda_.IFunction] = dict(functions.aliases)
        ingress = WebhookApi(self, "Ingress", config=config, functions=by_id)
        GovernedApi(self, "GovernedApi", config=config, api=ingress.api, function=by_id[API_FUNCTION.id])
        # the same /v1 for callers inside AWS, SigV4 (one authorization type per method: a second REST API)
        IamApi(self, "IamApi", config=config, function=by_id[API_FUNCTION.id])
        orchestration = QuoteToCash(
            self,
            "Orchestration",
            config=config,
            functions={k: f.function for k, f in functions.functions.items()},
            aliases=by_id,
            bus=bus.bus,
        )
        schedules = Schedules(self, "Schedules", functions=by_id)
        buses: dict[str, events.IEventBus] = {"hub": bus.bus}
        for partner in PARTNER_BUSES:
            source = config.partner_event_source(partner.config_key)
            if source:  # a partner bus exists once the partner's event source is associated with the account
                buses[partner.id] = events.EventBus(self, partner.id, event_source_name=source)
        routing = Routing(self, "Routing", config=config, buses=buses, functions=by_id)
        warehouse = Warehouse(self, "Warehouse", config=config, bus=bus.bus, layer=layer.layer)
        alarms = Alarms(
            self,
            "Observability",
            config=config,
            dlqs={consumer_id: route.dlq for consumer_id, route in routing.routes.items()},
            schedule_dlqs=schedules.dlqs,
            functions={k: f.function for k, f in functions.functions.items()},
        )
        canaries = Canaries(
            self, "Deployments", config=config, aliases=functions.aliases, alarms=alarms.function_alarms
        )
        operations = Operations(
            self,
            "Operations",
            config=config,
            # the functions themselves: the sweep's role and environment, metrics of every version
            functions={k: f.function for k, f in functions.functions.items()},
            state_machine=orchestration.state_machine,
            state_machine_name=orchestration.name,
            api=ingress.api,
            queues={consumer_id: route.queue for consumer_id, route in routing.routes.items()},
            dead_letter_queues={
                **{consumer_id: route.dlq for consumer_id, route in routing.routes.items()},
                **{f"{schedule_id}Schedule": dlq for schedule_id, dlq in schedules.dlqs.items()},
            },
            topic=alarms.topic,
            fact_waiting_too_long=alarms.fact_waiting_too_long,
        )
        # Last: the operators' policies reach every Lambda function of the stack (doctor reads them all).
        operators = OperatorPolicies(
            self,
            "Operators",
            operator_policy=orchestration.operator_policy,
            state_machine_arn=orchestration.arn,
            state_machine_name=orchestration.name,
            tables=data.tables,
            bus=bus.bus,
            archive=bus.archive,
            bus_name=bus_name(config.stage),
            reconciler=by_id["Reconciler"],
            deployment_groups=list(canaries.groups),
            secrets=list(secrets.secrets.values()),
            queues=[route.queue for route in routing.routes.values()],
            dlqs=[route.dlq for route in routing.routes.values()],
        )

        # Outputs the o2c CLI reads (names are a contract).
        CfnOutput(self, "ApiUrl", value=ingress.api.url)
        CfnOutput(self, "EventBusName", value=bus.bus.event_bus_name)
        CfnOutput(self, "SchemaRegistryName", value=schemas.registry.attr_registry_name)
        CfnOutput(self, "EventBusArn", value=bus.bus.event_bus_arn)
        CfnOutput(self, "EventArchiveArn", value=bus.archive.archive_arn)  # o2c replay
        CfnOutput(self, "StateMachineArn", value=orchestration.state_machine.state_machine_arn)
        CfnOutput(self, "ReconcilerFunctionName", value=functions.function("Reconciler").function_name)
        CfnOutput(self, "AlarmTopicArn", value=alarms.topic.topic_arn)
        CfnOutput(self, "DashboardName", value=operations.dashboard.dashboard_name)
        CfnOutput(self, "OperatorPolicyArn", value=orchestration.operator_policy.managed_policy_arn)
        CfnOutput(self, "ReadOnlyOperatorPolicyArn", value=operators.read_only_policy.managed_policy_arn)
        for name, value in warehouse.outputs.items():
            CfnOutput(self, name, value=value)  # o2c sql (the bucket locally; Athena's names on AWS)
        for table in TABLES:
            CfnOutput(self, f"{table.id}Name", value=data.tables[table.id].table_name)
        for consumer in CONSUMERS:
            if consumer.id not in routing.routes:
                continue
            route = routing.routes[consumer.id]
            CfnOutput(self, f"{consumer.id}QueueUrl", value=route.queue.queue_url)
            CfnOutput(self, f"{consumer.id}DlqUrl", value=route.dlq.queue_url)
            CfnOutput(self, f"{consumer.id}RuleArn", value=route.rule.rule_arn)  # o2c replay --consumer
