"""Canary deployments: CodeDeploy shifts each function's ``live`` alias to the version a deploy publishes, and
shifts it back when one of the function's alarms fires meanwhile.

- One CodeDeploy application per stack, named after the stack; one deployment group per function, named after
  its FunctionSpec id (``o2c rollback`` finds them by these names).
- The traffic shift is the stage's ``lambdaDeployment`` setting (cdk.json): ``AllAtOnce`` for dev,
  ``Canary10Percent5Minutes`` for prod (10 % of invocations on the new version for 5 minutes, then all).
- Rollback: the group watches the function's Errors and Throttles alarms (observability.py); an alarm in
  ALARM during the shift stops the deployment and CodeDeploy points the alias back at the old version (and
  CloudFormation rolls the stack update back). A failed or stopped deployment rolls back too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_codedeploy as codedeploy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.config import StageConfig
from infra.nag import acknowledge

_CONFIGS: dict[str, codedeploy.ILambdaDeploymentConfig] = {
    "AllAtOnce": codedeploy.LambdaDeploymentConfig.ALL_AT_ONCE,
    "Canary10Percent5Minutes": codedeploy.LambdaDeploymentConfig.CANARY_10_PERCENT_5_MINUTES,
    "Canary10Percent10Minutes": codedeploy.LambdaDeploymentConfig.CANARY_10_PERCENT_10_MINUTES,
    "Canary10Percent15Minutes": codedeploy.LambdaDeploymentConfig.CANARY_10_PERCENT_15_MINUTES,
    "Canary10Percent30Minutes": codedeploy.LambdaDeploymentConfig.CANARY_10_PERCENT_30_MINUTES,
    "Linear10PercentEvery1Minute": codedeploy.LambdaDeploymentConfig.LINEAR_10_PERCENT_EVERY_1_MINUTE,
    "Linear10PercentEvery2Minutes": codedeploy.LambdaDeploymentConfig.LINEAR_10_PERCENT_EVERY_2_MINUTES,
    "Linear10PercentEvery3Minutes": codedeploy.LambdaDeploymentConfig.LINEAR_10_PERCENT_EVERY_3_MINUTES,
    "Linear10PercentEvery10Minutes": codedeploy.LambdaDeploymentConfig.LINEAR_10_PERCENT_EVERY_10_MINUTES,
}


def deployment_config(name: str) -> codedeploy.ILambdaDeploymentConfig:
    """The predefined CodeDeploy config for a ``lambdaDeployment`` stage setting (config.LAMBDA_DEPLOYMENTS)."""
    return _CONFIGS[name]


class Canaries(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        aliases: Mapping[str, lambda_.Alias],
        alarms: Mapping[str, Sequence[cloudwatch.IAlarm]],
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.application = codedeploy.LambdaApplication(
            self, "Application", application_name=stack.stack_name
        )
        # One service role for every group: CodeDeploy reads the alarms and updates the aliases.
        self.role = iam.Role(
            self,
            "ServiceRole",
            assumed_by=iam.ServicePrincipal("codedeploy.amazonaws.com"),
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(
                    "service-role/AWSCodeDeployRoleForLambdaLimited"
                )
            ],
            description="CodeDeploy: shift the functions' live aliases, read their alarms",
        )
        acknowledge(
            self.role,
            "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited]",
            "The AWS managed service role policy for CodeDeploy on Lambda (alias updates, alarm reads); "
            "the limited variant, which invokes only hooks named CodeDeployHook_*.",
        )
        self.groups: dict[str, codedeploy.LambdaDeploymentGroup] = {}
        for function_id, alias in aliases.items():
            self.groups[function_id] = codedeploy.LambdaDeploymentGroup(
                self,
                function_id,
                application=self.application,
                deployment_group_name=function_id,
                alias=alias,
                deployment_config=deployment_config(config.lambda_deployment),
                alarms=list(alarms[function_id]),
                ignore_alarm_configuration=config.lambda_deployment_ignore_alarms,
                role=self.role,
                auto_rollback=codedeploy.AutoRollbackConfig(
                    failed_deployment=True, stopped_deployment=True, deployment_in_alarm=True
                ),
            )
