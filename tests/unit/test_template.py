"""template.yaml: lint-clean, least privilege, the tables the code expects, known settings only.

Offline and fast: cfn-lint and the SAM translator run in-process with no AWS account.
"""

from __future__ import annotations

import copy
import re
import tomllib
from typing import Any

import pytest
from cfnlint.api import lint, lint_file
from cfnlint.config import ManualArgs
from template_tools import (
    REPO,
    TEMPLATE_PATH,
    Grant,
    Template,
    least_privilege_problems,
    load_template,
    resolve_conditions,
    role_grants,
    rule_failures,
    sam_transform,
    wide_grants,
)

from ekmint.settings import ENV_VARS, load_settings

ORIGINS = "https://app.example.com,http://localhost:5173"
EXISTING_SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:openai-key-AbCdEf"
ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example"

# Two deployments that between them take every branch of the template's conditions.
SCENARIOS: dict[str, dict[str, Any]] = {
    "anonymous, stack-made secret": {"AuthMode": "none", "AllowedOrigins": ORIGINS},
    "jwt, existing secret, reserved concurrency": {
        "AuthMode": "jwt",
        "JwtIssuer": ISSUER,
        "JwtAudience": "client-a,client-b",
        "AllowedOrigins": ORIGINS,
        "ExistingSecretArn": EXISTING_SECRET_ARN,
        "ReservedConcurrency": 5,
    },
}
FUNCTION = "MintFunction"
ROLE = "MintFunctionRole"


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template()


@pytest.fixture(scope="module")
def transformed(template: Template) -> Template:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        return sam_transform(template, {"AllowedOrigins": ORIGINS})


def deployed(transformed: Template, scenario: str) -> Template:
    return resolve_conditions(transformed, SCENARIOS[scenario])


def expected_grants(scenario: str) -> set[Grant]:
    existing = SCENARIOS[scenario].get("ExistingSecretArn")
    secret = "Ref:ExistingSecretArn" if existing else "Ref:OpenAISecret"
    return {
        ("secretsmanager:GetSecretValue", secret),
        ("dynamodb:PutItem", "GetAtt:AuditTable.Arn"),
        # The quota charge is one conditional UpdateItem per counter.
        ("dynamodb:UpdateItem", "GetAtt:QuotaTable.Arn"),
        ("logs:CreateLogStream", "GetAtt:MintLogGroup.Arn"),
        ("logs:PutLogEvents", "GetAtt:MintLogGroup.Arn"),
        ("xray:PutTraceSegments", "*"),
        ("xray:PutTelemetryRecords", "*"),
    }


# ---------------------------------------------------------------- lint


def test_cfn_lint_finds_nothing_in_three_regions() -> None:
    matches = lint_file(
        TEMPLATE_PATH, config=ManualArgs(regions=["us-east-1", "eu-west-1", "ap-southeast-2"])
    )
    assert [str(m) for m in matches] == []


SERVERLESS_RULES = ManualArgs(append_rules=["cfn_lint_serverless.rules"])


def test_aws_serverless_rules_find_nothing() -> None:
    # cfn-lint-serverless (AWS Labs' serverless-rules), as `make template-check` runs them.
    assert [str(m) for m in lint_file(TEMPLATE_PATH, config=SERVERLESS_RULES)] == []


def test_serverless_rules_exception_is_ws1004_on_the_function_only(template: Template) -> None:
    # The one suppressed finding is the false positive it claims to be: without the function's
    # cfn-lint Metadata, WS1004 is the only finding, and only for MintFunction.
    metadata = template["Resources"][FUNCTION]["Metadata"]
    assert metadata["cfn-lint"] == {"config": {"ignore_checks": ["WS1004"]}}
    text = TEMPLATE_PATH.read_text(encoding="utf-8")
    unsuppressed = text.replace("ignore_checks: [WS1004]", "ignore_checks: []")
    assert unsuppressed != text
    matches = lint(unsuppressed, config=SERVERLESS_RULES)
    assert [(m.rule.id, m.linenumber) for m in matches] == [
        ("WS1004", _line_of(text, f"  {FUNCTION}:"))
    ]
    # ...and the log group it misses is there, with a retention, and the function uses it.
    function = template["Resources"][FUNCTION]["Properties"]
    assert function["LoggingConfig"] == {"LogGroup": {"Ref": "MintLogGroup"}}
    log_group = template["Resources"]["MintLogGroup"]["Properties"]
    assert log_group["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def _line_of(text: str, line: str) -> int:
    return text.splitlines().index(line) + 1


def test_sam_validate_is_not_turned_into_lint_by_samconfig() -> None:
    # `lint = true` under validate made the plain `sam validate` (make template-check's SAM
    # transform check) run cfn-lint again.
    config = tomllib.loads((REPO / "samconfig.toml").read_text(encoding="utf-8"))
    validate = config["default"].get("validate", {}).get("parameters", {})
    assert "lint" not in validate


def test_sam_translator_accepts_the_template(transformed: Template) -> None:
    kinds = {r["Type"] for r in transformed["Resources"].values()}
    assert not any(kind.startswith("AWS::Serverless::") for kind in kinds)
    assert "AWS::Lambda::LayerVersion" in kinds


# ---------------------------------------------------------------- least privilege


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_function_role_grants_exactly_what_the_code_uses(
    transformed: Template, scenario: str
) -> None:
    stack = deployed(transformed, scenario)
    function = stack["Resources"][FUNCTION]["Properties"]
    assert function["Role"] == {"Fn::GetAtt": [ROLE, "Arn"]}
    assert least_privilege_problems(stack, ROLE, expected_grants(scenario)) == []


def test_no_iam_resources_besides_the_function_role(transformed: Template) -> None:
    iam = {
        name: r["Type"]
        for name, r in transformed["Resources"].items()
        if r["Type"].startswith("AWS::IAM::")
    }
    assert iam == {ROLE: "AWS::IAM::Role"}


def _statements(stack: Template) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = stack["Resources"][ROLE]["Properties"]["Policies"][0][
        "PolicyDocument"
    ]["Statement"]
    return statements


def _add(statement: dict[str, Any]) -> Any:
    def widen(stack: Template) -> None:
        _statements(stack).append(statement)

    return widen


def _set_resource(sid: str, resource: Any) -> Any:
    def widen(stack: Template) -> None:
        next(s for s in _statements(stack) if s["Sid"] == sid)["Resource"] = resource

    return widen


def _attach(policy_arn: str) -> Any:
    def widen(stack: Template) -> None:
        stack["Resources"][ROLE]["Properties"]["ManagedPolicyArns"] = [policy_arn]

    return widen


AUDIT_ARN = {"Fn::GetAtt": ["AuditTable", "Arn"]}
WIDENINGS = {
    "dynamodb:* on the audit table": (
        _add({"Effect": "Allow", "Action": "dynamodb:*", "Resource": AUDIT_ARN}),
        "wildcard action dynamodb:*",
    ),
    "quota updates on every table": (
        _set_resource("ChargeQuotas", "*"),
        "dynamodb:UpdateItem on wildcard resource *",
    ),
    "every secret of the account": (
        _set_resource(
            "ReadTheOpenAIKey",
            {"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:*:secret:*"},
        ),
        "secretsmanager:GetSecretValue on wildcard resource",
    ),
    "Allow NotAction": (
        _add({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}),
        "Allow with NotAction",
    ),
    "a managed policy": (
        _attach("arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess"),
        "managed policy arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess",
    ),
    "a narrow but unneeded Scan": (
        _add({"Effect": "Allow", "Action": "dynamodb:Scan", "Resource": AUDIT_ARN}),
        "extra grant ('dynamodb:Scan', 'GetAtt:AuditTable.Arn')",
    ),
}


@pytest.mark.parametrize("widening", WIDENINGS)
def test_least_privilege_check_fails_when_a_policy_is_widened(
    transformed: Template, widening: str
) -> None:
    scenario = "anonymous, stack-made secret"
    stack = copy.deepcopy(deployed(transformed, scenario))
    widen, complaint = WIDENINGS[widening]
    widen(stack)
    problems = least_privilege_problems(stack, ROLE, expected_grants(scenario))
    assert any(complaint in p for p in problems), problems


def test_a_sam_generated_role_would_fail_the_check(template: Template) -> None:
    # Without `Role`, SAM makes its own role with AWSLambdaBasicExecutionRole (logs:* on every
    # log group) and the X-Ray managed policy: the reason the template brings its own role.
    loose = copy.deepcopy(template)
    del loose["Resources"][FUNCTION]["Properties"]["Role"]
    del loose["Resources"][ROLE]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        stack = sam_transform(loose, {"AllowedOrigins": ORIGINS})
    problems = wide_grants(stack)
    assert any("AWSLambdaBasicExecutionRole" in p for p in problems), problems


def test_only_this_apis_routes_may_invoke_the_function(transformed: Template) -> None:
    permissions = [
        r["Properties"]
        for r in transformed["Resources"].values()
        if r["Type"] == "AWS::Lambda::Permission"
    ]
    assert {p["Principal"] for p in permissions} == {"apigateway.amazonaws.com"}
    arns = sorted(p["SourceArn"]["Fn::Sub"].split(":${HttpApi}")[1] for p in permissions)
    assert arns == ["/*/POST/api/client-secret", "/*/POST/api/realtime/calls"]


# ---------------------------------------------------------------- auth modes


def test_anonymous_mode_has_no_authorizer(transformed: Template) -> None:
    stack = deployed(transformed, "anonymous, stack-made secret")
    kinds = {r["Type"] for r in stack["Resources"].values()}
    assert "AWS::ApiGatewayV2::Authorizer" not in kinds
    for name in ("MintRoute", "CallsRoute"):
        route = stack["Resources"][name]["Properties"]
        assert route["AuthorizationType"] == "NONE"
        assert "AuthorizerId" not in route


def test_jwt_mode_puts_a_jwt_authorizer_on_the_route(transformed: Template) -> None:
    authorizer = transformed["Resources"]["JwtAuthorizer"]
    assert authorizer["Condition"] == "IsJwt"
    assert authorizer["Properties"]["AuthorizerType"] == "JWT"
    assert authorizer["Properties"]["IdentitySource"] == ["$request.header.Authorization"]
    assert authorizer["Properties"]["JwtConfiguration"] == {
        "Issuer": {"Ref": "JwtIssuer"},
        "Audience": {"Fn::Split": [",", {"Ref": "JwtAudience"}]},
    }
    stack = deployed(transformed, "jwt, existing secret, reserved concurrency")
    for name in ("MintRoute", "CallsRoute"):
        route = stack["Resources"][name]["Properties"]
        assert route["AuthorizationType"] == "JWT"
        assert route["AuthorizerId"] == {"Ref": "JwtAuthorizer"}


def test_jwt_mode_without_issuer_or_audience_is_refused_by_a_rule(template: Template) -> None:
    rule = template["Rules"]["JwtModeNeedsIssuerAndAudience"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "AuthMode"}, "jwt"]}
    asserted = {str(a["Assert"]) for a in rule["Assertions"]}
    assert any("JwtIssuer" in a for a in asserted)
    assert any("JwtAudience" in a for a in asserted)


def test_preflight_is_left_to_api_gateway_cors(transformed: Template) -> None:
    routes = [
        r["Properties"]["RouteKey"]
        for r in transformed["Resources"].values()
        if r["Type"] == "AWS::ApiGatewayV2::Route"
    ]
    # No OPTIONS, ANY or $default route: API Gateway answers preflight from CorsConfiguration.
    assert sorted(routes) == ["POST /api/client-secret", "POST /api/realtime/calls"]
    cors = transformed["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"]
    assert cors["AllowOrigins"] == {"Fn::Split": [",", {"Ref": "AllowedOrigins"}]}
    assert cors["AllowCredentials"] is False


def test_the_function_answers_inside_the_http_api_limit(transformed: Template) -> None:
    function = transformed["Resources"][FUNCTION]["Properties"]
    integration = transformed["Resources"]["MintIntegration"]["Properties"]
    assert integration["PayloadFormatVersion"] == "2.0"
    assert function["Timeout"] * 1000 < integration["TimeoutInMillis"] <= 30_000


# ---------------------------------------------------------------- tables


def _no_intrinsics(node: Any) -> bool:
    if isinstance(node, dict):
        return not any(k == "Ref" or k.startswith("Fn::") for k in node) and all(
            _no_intrinsics(v) for v in node.values()
        )
    if isinstance(node, list):
        return all(_no_intrinsics(v) for v in node)
    return True


def test_audit_table_is_retained_with_its_keys_indexes_ttl_and_backups(
    template: Template,
) -> None:
    table = template["Resources"]["AuditTable"]
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == (
        "RetainExceptOnCreate",
        "Retain",
    )
    props = table["Properties"]
    # The local stack creates this table in moto from these very Properties.
    assert _no_intrinsics(props)
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [{"AttributeName": "request_id", "KeyType": "HASH"}]
    indexes = {
        gsi["IndexName"]: (
            [(k["AttributeName"], k["KeyType"]) for k in gsi["KeySchema"]],
            gsi["Projection"],
        )
        for gsi in props["GlobalSecondaryIndexes"]
    }
    assert indexes == {
        "by_principal": ([("principal", "HASH"), ("ts", "RANGE")], {"ProjectionType": "ALL"}),
        "by_day": ([("day", "HASH"), ("ts", "RANGE")], {"ProjectionType": "ALL"}),
    }
    types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    assert types == {"request_id": "S", "principal": "S", "day": "S", "ts": "S"}
    assert props["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}


def test_quota_table_is_keyed_by_pk_with_ttl(template: Template) -> None:
    props = template["Resources"]["QuotaTable"]["Properties"]
    assert _no_intrinsics(props)
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert props["AttributeDefinitions"] == [{"AttributeName": "pk", "AttributeType": "S"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}


# ---------------------------------------------------------------- settings


def _variables(stack: Template) -> dict[str, Any]:
    variables: dict[str, Any] = stack["Resources"][FUNCTION]["Properties"]["Environment"][
        "Variables"
    ]
    return variables


def test_every_environment_variable_is_a_known_setting(transformed: Template) -> None:
    names = set(_variables(transformed))
    # Powertools' own; Lambda's wrapper for the optional OpenTelemetry layer; and
    # AWS_ENDPOINT_URL, for `sam local invoke` only (see below).
    theirs = {"AWS_LAMBDA_EXEC_WRAPPER", "AWS_ENDPOINT_URL"}
    unknown = {n for n in names - set(ENV_VARS) - theirs if not n.startswith("POWERTOOLS_")}
    assert unknown == set()
    assert {"OPENAI_SECRET_ID", "AUDIT_TABLE_NAME", "QUOTA_TABLE_NAME"} <= names


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_aws_endpoint_is_declared_for_sam_local_and_absent_in_aws(
    transformed: Template, scenario: str
) -> None:
    # SAM's --env-vars sets only declared variables; in AWS, NoValue drops it.
    assert _variables(transformed)["AWS_ENDPOINT_URL"] == {"Ref": "AWS::NoValue"}
    assert "AWS_ENDPOINT_URL" not in _variables(deployed(transformed, scenario))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_parameter_defaults_make_settings_the_function_accepts(
    template: Template, transformed: Template, scenario: str
) -> None:
    stack = deployed(transformed, scenario)
    values = {
        name: str(SCENARIOS[scenario].get(name, spec.get("Default", "")))
        for name, spec in template["Parameters"].items()
    }
    fake_physical_ids = {
        "OpenAISecret": "arn:aws:secretsmanager:us-east-1:123456789012:secret:ekmint-x-AbCdEf",
        "AuditTable": "ekmint-AuditTable-ABC123",
        "QuotaTable": "ekmint-QuotaTable-DEF456",
    }

    def value(node: Any) -> str:
        if isinstance(node, dict):
            ref = node["Ref"]
            return values[ref] if ref in values else fake_physical_ids[ref]
        return str(node)

    environ = {name: value(node) for name, node in _variables(stack).items()}
    settings = load_settings(environ)
    assert settings.auth_mode == SCENARIOS[scenario]["AuthMode"]
    assert settings.openai_secret_id.startswith("arn:aws:secretsmanager:")


def test_a_failed_first_deploy_leaves_nothing_behind(template: Template) -> None:
    # A create that rolls back must not keep paid-for resources (the secret, the audit table
    # with point-in-time recovery); once created, the secret and the audit trail outlive the
    # stack and a replacement.
    policies = {
        name: (r.get("DeletionPolicy", "Delete"), r.get("UpdateReplacePolicy", "Delete"))
        for name, r in template["Resources"].items()
    }
    assert {name for name, (deletion, _) in policies.items() if deletion != "Delete"} == {
        "OpenAISecret",
        "AuditTable",
    }
    assert policies["OpenAISecret"] == ("RetainExceptOnCreate", "Retain")
    assert policies["AuditTable"] == ("RetainExceptOnCreate", "Retain")


def test_dashboard_name_carries_the_stack_and_the_region(template: Template) -> None:
    # Dashboards are global to an account: the same stack name in two regions must not clash.
    name = template["Resources"]["Dashboard"]["Properties"]["DashboardName"]["Fn::Sub"]
    assert "${AWS::StackName}" in name
    assert "${AWS::Region}" in name
    dashboards = [
        r for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Dashboard"
    ]
    assert len(dashboards) == 1


def test_empty_allowed_origins_is_refused_by_a_rule_that_says_what_to_enter(
    template: Template,
) -> None:
    (refused,) = rule_failures(template, {"AllowedOrigins": ""})
    assert refused.startswith("AllowedOrigins is empty.")
    assert "https://app.example.com" in refused
    assert rule_failures(template, {"AllowedOrigins": ORIGINS}) == []
    assert rule_failures(template, {"AllowedOrigins": "*"}) == []


def test_jwt_rule_refuses_jwt_mode_without_issuer_and_audience(template: Template) -> None:
    jwt = {"AllowedOrigins": ORIGINS, "AuthMode": "jwt"}
    assert len(rule_failures(template, jwt)) == 2
    assert rule_failures(template, {**jwt, "JwtIssuer": ISSUER, "JwtAudience": "a"}) == []


@pytest.mark.parametrize(
    ("origins", "accepted"),
    [
        ("https://app.example.com", True),
        ("https://app.example.com,http://localhost:5173", True),
        ("*", True),
        ("https://app.example.com/", False),
        ("https://app.example.com, http://localhost:5173", False),
        ("app.example.com", False),
        ("", False),
    ],
)
def test_allowed_origins_pattern_and_rules_admit_only_what_settings_accept(
    template: Template, origins: str, accepted: bool
) -> None:
    pattern = template["Parameters"]["AllowedOrigins"]["AllowedPattern"]
    matches = bool(re.fullmatch(pattern, origins))
    assert (matches and rule_failures(template, {"AllowedOrigins": origins}) == []) is accepted
    if accepted:
        environ = {"OPENAI_SECRET_ID": "x", "AUDIT_TABLE_NAME": "aaa", "QUOTA_TABLE_NAME": "qqq"}
        assert load_settings({**environ, "ALLOWED_ORIGINS": origins}).allowed_origins


def _first_column_names(markdown: str, header: str) -> set[str]:
    """The `Backticked` names in the first column of the table whose header row is `header`."""
    lines = markdown.splitlines()
    rows = lines[lines.index(header) + 2 :]
    names: set[str] = set()
    for row in rows:
        if not row.startswith("|"):
            break
        names |= set(re.findall(r"`([^`]+)`", row.split("|")[1]))
    return names


def test_deploy_docs_list_every_resource_and_output_of_the_template(template: Template) -> None:
    deploy_md = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
    resources = _first_column_names(deploy_md, "| resource | what it is |")
    assert resources == set(template["Resources"])
    outputs = _first_column_names(deploy_md, "| output | use |")
    assert outputs == set(template["Outputs"])


def test_outputs_name_everything_an_operator_needs(template: Template) -> None:
    assert set(template["Outputs"]) == {
        "ApiUrl",
        "ApiEndpoint",
        "AuditTableName",
        "QuotaTableName",
        "SecretArn",
        "FunctionName",
    }
    assert template["Outputs"]["ApiUrl"]["Value"]["Fn::Sub"].endswith("/api/client-secret")


def test_reserved_concurrency_is_set_only_when_asked(transformed: Template) -> None:
    anonymous = deployed(transformed, "anonymous, stack-made secret")
    reserved = deployed(transformed, "jwt, existing secret, reserved concurrency")
    assert "ReservedConcurrentExecutions" not in anonymous["Resources"][FUNCTION]["Properties"]
    assert reserved["Resources"][FUNCTION]["Properties"]["ReservedConcurrentExecutions"] == {
        "Ref": "ReservedConcurrency"
    }


def test_grants_are_read_from_the_role_the_function_uses(transformed: Template) -> None:
    # Guards the checker itself: it sees the statements, not an empty set that trivially matches.
    grants = role_grants(deployed(transformed, "anonymous, stack-made secret"))
    assert ("dynamodb:PutItem", "GetAtt:AuditTable.Arn") in grants[ROLE]


# ---------------------------------------------------------------- SnapStart


def test_snapstart_is_off_by_default_and_the_api_invokes_the_function_itself(
    transformed: Template,
) -> None:
    stack = deployed(transformed, "anonymous, stack-made secret")
    assert "SnapStart" not in stack["Resources"][FUNCTION]["Properties"]
    integration = stack["Resources"]["MintIntegration"]["Properties"]
    assert integration["IntegrationUri"] == {"Fn::GetAtt": [FUNCTION, "Arn"]}
    permission = stack["Resources"]["MintInvokePermission"]["Properties"]
    assert permission["FunctionName"] == {"Ref": FUNCTION}


def test_snapstart_on_snapshots_published_versions_and_the_api_invokes_the_alias(
    template: Template,
) -> None:
    parameters = {"AllowedOrigins": ORIGINS, "EnableSnapStart": "true"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        stack = resolve_conditions(sam_transform(template, parameters), parameters)
    resources = stack["Resources"]
    assert resources[FUNCTION]["Properties"]["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    (alias,) = [name for name, r in resources.items() if r["Type"] == "AWS::Lambda::Alias"]
    assert resources["MintIntegration"]["Properties"]["IntegrationUri"] == {"Ref": alias}
    assert resources["MintInvokePermission"]["Properties"]["FunctionName"] == {"Ref": alias}
