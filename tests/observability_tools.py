"""Read template.yaml's observability resources and the handler's real output, so tests can tie
them together: the fields each saved Logs Insights query reads, the metrics each alarm and
dashboard widget reads, and what the handler's log lines and EMF lines actually contain.

Used by tests/unit/test_observability.py (the template alone) and
tests/integration/test_observability_live.py (the template against the running handler).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from samtranslator.yaml_helper import yaml_parse

REPO = Path(__file__).resolve().parents[1]
TEMPLATE_PATH = REPO / "template.yaml"

Template = dict[str, Any]
# (namespace, metric name, {dimension name: value}) as a hashable triple.
Metric = tuple[str, str, frozenset[tuple[str, str]]]


def load_template(path: Path = TEMPLATE_PATH) -> Template:
    template: Template = yaml_parse(path.read_text(encoding="utf-8"))
    return template


def resources_of_type(template: Template, kind: str) -> dict[str, dict[str, Any]]:
    return {
        name: resource
        for name, resource in template.get("Resources", {}).items()
        if resource.get("Type") == kind
    }


# ---------------------------------------------------------------- Logs Insights queries

# Fields CloudWatch Logs adds to every event (and, for Lambda's REPORT lines, the @-fields there).
BUILT_IN_FIELDS = frozenset(
    {
        "@timestamp",
        "@message",
        "@logStream",
        "@log",
        "@ingestionTime",
        "@requestId",
        "@type",
        "@duration",
        "@billedDuration",
        "@initDuration",
        "@maxMemoryUsed",
        "@memorySize",
    }
)
KEYWORDS = frozenset({"and", "or", "not", "in", "like", "by", "as", "asc", "desc", "true", "false"})
# Commands whose arguments are field expressions; anything else is refused so that a query
# using a command this reader does not understand fails loudly instead of passing unread.
FIELD_COMMANDS = frozenset({"fields", "display", "filter", "stats", "sort", "dedup"})
OTHER_COMMANDS = frozenset({"limit", "source"})

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_REGEX = re.compile(r"(?<=like)\s*/(?:[^/\\]|\\.)*/|(?<==~)\s*/(?:[^/\\]|\\.)*/")
_BACKTICK = re.compile(r"`([^`]+)`")
_NAME = re.compile(r"(?<![\w.@`])[A-Za-z_@][\w.@]*")


def saved_queries(template: Template) -> dict[str, str]:
    """Logical id -> query text of every AWS::Logs::QueryDefinition."""
    return {
        name: resource["Properties"]["QueryString"]
        for name, resource in resources_of_type(template, "AWS::Logs::QueryDefinition").items()
    }


def _split_commands(query: str) -> list[str]:
    """Split on `|` outside string literals and regexes (`like /a|b/`, `=~ /a|b/`)."""
    commands: list[str] = []
    current: list[str] = []
    closing, escaped = "", False
    for char in query:
        if closing:
            current.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == closing:
                closing = ""
            continue
        before = "".join(current).rstrip().lower()
        if char in "\"'" or (char == "/" and before.endswith(("like", "=~"))):
            closing = char
        if char == "|":
            commands.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    commands.append("".join(current).strip())
    return [c for c in commands if c]


def _names(text: str) -> Iterator[tuple[str, str]]:
    """(name, what follows it) for every identifier-like token of a command's arguments."""
    text = _STRING.sub(" ", _REGEX.sub(" ", text))
    text = _BACKTICK.sub(lambda m: m.group(1).replace(" ", "_"), text)
    for match in _NAME.finditer(text):
        yield match.group(), text[match.end() :].lstrip()[:1]


def query_fields(query: str) -> tuple[set[str], set[str]]:
    """(fields the query reads, names it defines with `as`) for a Logs Insights query."""
    reads: set[str] = set()
    aliases: set[str] = set()
    for command in _split_commands(query):
        verb, _, arguments = command.partition(" ")
        verb = verb.lower()
        if verb in OTHER_COMMANDS:
            continue
        if verb not in FIELD_COMMANDS:
            raise ValueError(f"query command {verb!r} is not understood by this checker")
        after_as = False
        for name, following in _names(arguments):
            lowered = name.lower()
            if lowered in KEYWORDS:
                after_as = lowered == "as"
                continue
            if following == "(":
                after_as = False
                continue  # a function: count, bin, pct, ispresent, ...
            if after_as:
                aliases.add(name)
            else:
                reads.add(name)
            after_as = False
    return reads - aliases, aliases


def missing_fields(query: str, available: Iterable[str]) -> list[str]:
    """Fields the query reads that are neither built in nor in `available`, sorted."""
    reads, _ = query_fields(query)
    known = set(available) | BUILT_IN_FIELDS
    return sorted(field for field in reads if field not in known)


def flatten(document: Any, prefix: str = "") -> set[str]:
    """The field names Logs Insights discovers in a JSON log line: nested keys joined by dots,
    array items by their index (`attempts.0.status`)."""
    names: set[str] = set()
    if isinstance(document, dict):
        items: Iterable[tuple[str, Any]] = document.items()
    elif isinstance(document, list):
        items = ((str(i), v) for i, v in enumerate(document))
    else:
        return {prefix} if prefix else set()
    for key, value in items:
        name = f"{prefix}.{key}" if prefix else key
        names.add(name)
        names |= flatten(value, name)
    return names


def json_lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            document = json.loads(line)
            if isinstance(document, dict):
                lines.append(document)
    return lines


# ---------------------------------------------------------------- metrics


def emitted_metrics(lines: Iterable[dict[str, Any]]) -> set[Metric]:
    """Every (namespace, metric, dimensions) in EMF lines, dimension values read from the line."""
    metrics: set[Metric] = set()
    for line in lines:
        for directive in (line.get("_aws") or {}).get("CloudWatchMetrics", []):
            for dimension_set in directive["Dimensions"]:
                dimensions = frozenset((name, str(line[name])) for name in dimension_set)
                for metric in directive["Metrics"]:
                    metrics.add((directive["Namespace"], metric["Name"], dimensions))
    return metrics


def _dimension_value(value: Any) -> str:
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return f"<ref:{value['Ref']}>"
    return str(value)


def alarm_metrics(template: Template) -> dict[str, Metric]:
    """Alarm logical id -> the metric it watches."""
    alarms: dict[str, Metric] = {}
    for name, resource in resources_of_type(template, "AWS::CloudWatch::Alarm").items():
        props = resource["Properties"]
        dimensions = frozenset(
            (d["Name"], _dimension_value(d["Value"])) for d in props.get("Dimensions", [])
        )
        alarms[name] = (props["Namespace"], props["MetricName"], dimensions)
    return alarms


_SUB_REFERENCE = re.compile(r"\$\{([^}!]+)\}")


def dashboard_body(template: Template, logical_id: str) -> tuple[dict[str, Any], set[str]]:
    """(the dashboard's JSON with every ${X} left as "<ref:X>", the names X referenced)."""
    text = template["Resources"][logical_id]["Properties"]["DashboardBody"]["Fn::Sub"]
    references = set(_SUB_REFERENCE.findall(text))
    body: dict[str, Any] = json.loads(_SUB_REFERENCE.sub(lambda m: f"<ref:{m.group(1)}>", text))
    return body, references


_SEARCH = re.compile(r"SEARCH\('\{([^}]*)\}\s+MetricName=\"([^\"]+)\"([^']*)'")
_SEARCH_TERM = re.compile(r"(\w+)=\"([^\"]+)\"")


def widget_metrics(body: dict[str, Any]) -> list[tuple[str, str, frozenset[tuple[str, str]]]]:
    """Every metric the dashboard's metric widgets graph. A SEARCH expression becomes
    (namespace, metric, {dimension: value or "*"}): "*" for a dimension it does not pin."""
    metrics = []
    for widget in body["widgets"]:
        if widget["type"] != "metric":
            continue
        for row in widget["properties"]["metrics"]:
            if isinstance(row[0], dict):
                match = _SEARCH.search(row[0]["expression"])
                if match is None:
                    raise ValueError(f"unreadable expression {row[0]['expression']!r}")
                namespace, *dimension_names = [p.strip() for p in match.group(1).split(",")]
                pinned = dict(_SEARCH_TERM.findall(match.group(3)))
                dimensions = frozenset((n, pinned.get(n, "*")) for n in dimension_names)
                metrics.append((namespace, match.group(2), dimensions))
                continue
            parts = [p for p in row if isinstance(p, str)]
            if "..." in parts or "." in parts:
                raise ValueError("write dashboard rows in full, without '...' shorthand")
            namespace, name, *pairs = parts
            dimensions = frozenset(zip(pairs[::2], pairs[1::2], strict=True))
            metrics.append((namespace, name, dimensions))
    return metrics


def log_widget_queries(body: dict[str, Any]) -> list[str]:
    return [w["properties"]["query"] for w in body["widgets"] if w["type"] == "log"]


def metric_is_emitted(
    wanted: tuple[str, str, frozenset[tuple[str, str]]],
    emitted: set[Metric],
    stand_ins: dict[str, str] | None = None,
) -> bool:
    """True when the code emitted `wanted`: same namespace, name and dimension names, and the
    same dimension values, where "*" (a SEARCH) matches any value and a `<ref:X>` in
    `stand_ins` matches the value the local run uses for X (the function's name)."""
    namespace, name, dimensions = wanted
    stand_ins = stand_ins or {}
    for got_namespace, got_name, got_dimensions in emitted:
        if (got_namespace, got_name) != (namespace, name):
            continue
        got = dict(got_dimensions)
        if set(got) != {d for d, _ in dimensions}:
            continue
        if all(v == "*" or stand_ins.get(v, v) == got[d] for d, v in dimensions):
            return True
    return False
