"""template.yaml's saved queries, alarms and dashboard, read offline; the query checker itself;
the tracer's switches. tests/integration/test_observability_live.py checks the same resources
against what the running handler really logs and emits."""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, datetime, timedelta

import pytest
from observability_tools import (
    REPO,
    alarm_metrics,
    dashboard_body,
    flatten,
    log_widget_queries,
    missing_fields,
    query_fields,
    resources_of_type,
    saved_queries,
    widget_metrics,
)
from template_tools import Template, load_template, resolve_conditions

from ekmint import audit, telemetry
from ekmint.settings import ENV_VARS

ORIGINS = "https://app.example.com"
TOPIC = "arn:aws:sns:us-east-1:123456789012:ekmint-alarms"
EKMINT_METRICS = {
    value
    for name, value in vars(telemetry).items()
    if name.isupper() and isinstance(value, str) and name != "NAMESPACE"
} | {"ColdStart"}  # Powertools' own, from capture_cold_start_metric=True


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template()


# ---------------------------------------------------------------- the query checker

AUDIT_LINE = {
    "level": "INFO",
    "message": "audit",
    "correlation_id": "abc=",
    "audit": {"outcome": "minted", "principal": "198.51.100.7", "upstream_attempts": 1},
    "attempts": [{"status": 200}],
}


def test_flatten_names_fields_as_logs_insights_discovers_them() -> None:
    assert flatten(AUDIT_LINE) >= {
        "audit",
        "audit.outcome",
        "audit.principal",
        "attempts.0.status",
        "correlation_id",
    }


def test_checker_names_every_field_a_bad_query_reads_that_no_line_has() -> None:
    bad = (
        'filter audit.outcom = "minted"\n'
        "| stats count(*) as keys by bin(1h), audit.principle\n"
        "| sort keys desc"
    )
    assert missing_fields(bad, flatten(AUDIT_LINE)) == ["audit.outcom", "audit.principle"]


def test_checker_ignores_functions_aliases_strings_keywords_and_built_in_fields() -> None:
    good = (
        "fields @timestamp, audit.upstream_attempts - 1 as retries\n"
        '| filter audit.outcome in ["minted", "audit.fake"] and message like /audit.nope|x/\n'
        "| filter ispresent(audit.principal) and not correlation_id = 'no.such.field'\n"
        "| stats sum(retries) as total, pct(audit.upstream_attempts, 95) by bin(5m)\n"
        "| sort total desc\n"
        "| limit 10"
    )
    reads, aliases = query_fields(good)
    assert aliases == {"retries", "total"}
    assert reads == {
        "@timestamp",
        "audit.upstream_attempts",
        "audit.outcome",
        "message",
        "audit.principal",
        "correlation_id",
    }
    assert missing_fields(good, flatten(AUDIT_LINE)) == []


def test_checker_refuses_a_command_it_cannot_read() -> None:
    with pytest.raises(ValueError, match="parse"):
        query_fields('parse @message "* *" as a, b | stats count(*) by a')


# ---------------------------------------------------------------- saved queries

REQUIRED_QUERIES = {
    "KeysMintedPerPrincipalQuery",
    "RefusalsAndFailuresByCodeQuery",
    "UpstreamLatencyQuery",
    "RefusedOriginsAndIpsQuery",
    "OneRequestQuery",
    "WhereTheTimeWentQuery",
}


def test_saved_queries_answer_the_operators_questions_on_the_functions_log_group(
    template: Template,
) -> None:
    queries = resources_of_type(template, "AWS::Logs::QueryDefinition")
    assert set(queries) >= REQUIRED_QUERIES
    function = template["Resources"]["MintFunction"]["Properties"]
    assert function["LoggingConfig"]["LogGroup"] == {"Ref": "MintLogGroup"}
    names = []
    for resource in queries.values():
        props = resource["Properties"]
        assert props["LogGroupNames"] == [{"Ref": "MintLogGroup"}]
        names.append(props["Name"]["Fn::Sub"])
        reads, _ = query_fields(props["QueryString"])
        assert reads
    assert len(set(names)) == len(names)
    assert all(name.startswith("${AWS::StackName}/") for name in names)


def test_the_time_query_reads_every_phase_of_a_mint(template: Template) -> None:
    reads, _ = query_fields(saved_queries(template)["WhereTheTimeWentQuery"])
    phases = {"phases_ms.secret", "phases_ms.quota", "phases_ms.upstream", "phases_ms.audit"}
    assert phases <= set(reads)


def test_the_latency_query_has_percentiles_and_retries(template: Template) -> None:
    query = saved_queries(template)["UpstreamLatencyQuery"]
    for percentile in (50, 95, 99):
        assert f"pct(audit.upstream_latency_ms, {percentile})" in query
    assert "audit.upstream_attempts - 1 as retries" in query


def test_the_one_request_query_has_a_placeholder_to_replace(template: Template) -> None:
    query = saved_queries(template)["OneRequestQuery"]
    assert re.search(r'correlation_id = "REQUEST_ID"', query)


# ---------------------------------------------------------------- alarms

REQUIRED_ALARMS = {
    "AuditWriteFailuresAlarm": ("ekmint", "AuditWriteFailures"),
    "OpenAIUnavailableAlarm": ("ekmint", "OpenAIUnavailable"),
    "GlobalCapReachedAlarm": ("ekmint", "GlobalCapReached"),
    "FunctionErrorsAlarm": ("AWS/Lambda", "Errors"),
    "FunctionThrottlesAlarm": ("AWS/Lambda", "Throttles"),
}


def test_required_alarms_watch_the_right_metrics(template: Template) -> None:
    alarms = alarm_metrics(template)
    assert {name: alarms[name][:2] for name in REQUIRED_ALARMS} == REQUIRED_ALARMS
    threshold = template["Resources"]["OpenAIUnavailableAlarm"]["Properties"]["Threshold"]
    assert threshold == {"Ref": "OpenAIUnavailableAlarmThreshold"}


def test_alarms_use_powertools_namespace_and_service_dimension_or_the_function(
    template: Template,
) -> None:
    for name, (namespace, metric, dimensions) in alarm_metrics(template).items():
        if namespace == "ekmint":
            assert metric in EKMINT_METRICS, name
            assert ("service", "ekmint") in dimensions, name
        else:
            assert (namespace, dict(dimensions)) == (
                "AWS/Lambda",
                {"FunctionName": "<ref:MintFunction>"},
            ), name


@pytest.mark.parametrize(("topic", "actions"), [("", None), (TOPIC, [{"Ref": "AlarmTopicArn"}])])
def test_alarms_notify_the_topic_only_when_one_is_given(
    template: Template, topic: str, actions: list[dict[str, str]] | None
) -> None:
    stack = resolve_conditions(template, {"AllowedOrigins": ORIGINS, "AlarmTopicArn": topic})
    alarms = resources_of_type(stack, "AWS::CloudWatch::Alarm")
    assert alarms
    for name, alarm in alarms.items():
        props = alarm["Properties"]
        assert props.get("AlarmActions") == actions, name
        assert props.get("OKActions") == actions, name
        assert props["TreatMissingData"] == "notBreaching", name


def test_alarm_topic_parameter_takes_only_an_sns_arn_or_nothing(template: Template) -> None:
    pattern = template["Parameters"]["AlarmTopicArn"]["AllowedPattern"]
    assert re.fullmatch(pattern, "")
    assert re.fullmatch(pattern, TOPIC)
    assert not re.fullmatch(pattern, "arn:aws:sqs:us-east-1:123456789012:queue")


# ---------------------------------------------------------------- dashboard


def test_dashboard_is_json_and_references_only_what_the_stack_has(template: Template) -> None:
    body, references = dashboard_body(template, "Dashboard")
    resources = template["Resources"]
    for reference in references - {"AWS::Region"}:
        logical_id, _, attribute = reference.partition(".")
        assert logical_id in resources, reference
        assert attribute in {"", "Arn"}, reference
    alarm_widgets = [w for w in body["widgets"] if w["type"] == "alarm"]
    listed = {a for w in alarm_widgets for a in w["properties"]["alarms"]}
    every_alarm = set(resources_of_type(template, "AWS::CloudWatch::Alarm"))
    assert listed == {f"<ref:{name}.Arn>" for name in every_alarm}


def test_dashboard_shows_the_key_figures(template: Template) -> None:
    body, _ = dashboard_body(template, "Dashboard")
    shown = {(namespace, name) for namespace, name, _ in widget_metrics(body)}
    assert {
        ("ekmint", telemetry.KEYS_MINTED),
        ("ekmint", telemetry.ERRORS_BY_CODE),
        ("ekmint", telemetry.UPSTREAM_LATENCY),
        ("ekmint", telemetry.UPSTREAM_ATTEMPTS),
        ("ekmint", telemetry.UPSTREAM_RETRIES),
        ("ekmint", telemetry.QUOTA_REJECTIONS),
        ("AWS/Lambda", "Duration"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/Lambda", "ConcurrentExecutions"),
    } <= shown
    assert log_widget_queries(body)


def test_dashboard_metrics_are_names_the_code_defines(template: Template) -> None:
    body, _ = dashboard_body(template, "Dashboard")
    for namespace, name, dimensions in widget_metrics(body):
        if namespace == "ekmint":
            assert name in EKMINT_METRICS
            assert ("service", "ekmint") in dimensions
        else:
            assert namespace == "AWS/Lambda"
            assert dict(dimensions) in ({"FunctionName": "<ref:MintFunction>"}, {})


# ---------------------------------------------------------------- retention and log level


def test_audit_retention_is_the_tables_ttl(template: Template) -> None:
    table = template["Resources"]["AuditTable"]["Properties"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert "ttl" in audit.AuditRecord.model_fields
    variables = template["Resources"]["MintFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["AUDIT_RETENTION_DAYS"] == {"Ref": "AuditRetentionDays"}
    assert ENV_VARS["AUDIT_RETENTION_DAYS"] == "audit_retention_days"
    now = datetime(2025, 1, 31, 23, 59, 59, tzinfo=UTC)
    stamps = audit.timestamps(now, 90)
    assert stamps["ttl"] == int((now + timedelta(days=90)).timestamp())
    assert (stamps["day"], stamps["ts"]) == ("2025-01-31", "2025-01-31T23:59:59.000Z")


def test_log_level_is_the_loglevel_parameter(template: Template) -> None:
    variables = template["Resources"]["MintFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}


# ---------------------------------------------------------------- tracing


def test_tracing_is_configuration_with_an_optional_opentelemetry_layer(
    template: Template,
) -> None:
    function = template["Resources"]["MintFunction"]["Properties"]
    assert function["Tracing"] == "Active"
    for arn, layers, wrapper in (
        ("", 1, None),
        (
            "arn:aws:lambda:us-east-1:901920570463:layer:aws-otel-python-arm64-ver-1-32-0:2",
            2,
            "/opt/otel-instrument",
        ),
    ):
        resolved = resolve_conditions(
            template, {"OpenTelemetryLayerArn": arn, "AllowedOrigins": "https://app.example.com"}
        )
        properties = resolved["Resources"]["MintFunction"]["Properties"]
        assert len(properties["Layers"]) == layers
        assert properties["Environment"]["Variables"].get("AWS_LAMBDA_EXEC_WRAPPER") == wrapper


def test_the_function_ships_no_xray_sdk() -> None:
    # Tracing is configuration (Tracing: Active, the optional ADOT layer); the X-Ray SDK is in
    # maintenance mode and would cost ~30 ms of every cold start.
    layer = (REPO / "layers" / "deps" / "requirements.txt").read_text().lower()
    assert "xray" not in layer and "wrapt" not in layer
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert not any("xray" in d for d in project["dependencies"])
    shipped = (REPO / "functions" / "mint" / "ekmint").glob("*.py")
    sdk = re.compile(
        r"aws_xray_sdk|opentelemetry|^from aws_lambda_powertools\S* import .*Tracer", re.M
    )
    assert not [p.name for p in shipped if sdk.search(p.read_text())]


# ---------------------------------------------------------------- docs


def test_operations_md_shows_every_saved_query_as_deployed_and_every_alarm(
    template: Template,
) -> None:
    operations = (REPO / "docs" / "operations.md").read_text()
    for name, query in saved_queries(template).items():
        assert query.strip() in operations, f"{name}: docs/operations.md shows another text"
    for name, alarm in resources_of_type(template, "AWS::CloudWatch::Alarm").items():
        alarm_name = alarm["Properties"]["AlarmName"]["Fn::Sub"]
        assert alarm_name.replace("${AWS::StackName}", "<stack>") in operations, name


def test_audit_md_documents_every_field_of_the_record() -> None:
    documented = set(re.findall(r"^\| `(\w+)` \|", (REPO / "docs" / "audit.md").read_text(), re.M))
    assert documented == set(audit.AuditRecord.model_fields)
