"""Read template.yaml offline the way SAM and CloudFormation would, for tests/unit/test_template.py.

- `sam_transform` runs the SAM translator like `sam validate` does, with no AWS account.
- `resolve_conditions` applies what CloudFormation decides from parameter values alone
  (conditions, `Fn::If`, `AWS::NoValue`, conditional resources); `Ref` and `Fn::GetAtt` stay.
- `rule_failures` evaluates the template's `Rules` the way CloudFormation does at change-set time.
- `least_privilege_problems` compares every IAM grant with the expected set and names anything
  wider: wildcard actions, wildcard resources, `NotAction`/`NotResource`, managed policies.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, ClassVar

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

REPO = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO / "template.yaml"

# X-Ray has no resource-level permissions, so "*" is the only resource its actions accept.
SERVICES_WITHOUT_RESOURCES = frozenset({"xray"})

Template = dict[str, Any]
Grant = tuple[str, str]  # (action, resource described by `describe`)


def load_template(path: Path = TEMPLATE_PATH) -> Template:
    """The template as a dict, short-form tags (!Ref, !If, ...) turned into their long form."""
    template: Template = yaml_parse(path.read_text(encoding="utf-8"))
    return template


class OfflinePolicyLoader:
    """Stands in for SAM's ManagedPolicyLoader, which asks IAM for every AWS managed policy.

    Only consulted when a function lets SAM generate its role; these are the names SAM attaches.
    """

    POLICIES: ClassVar[dict[str, str]] = {
        "AWSLambdaBasicExecutionRole": (
            "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
        ),
        "AWSXrayWriteOnlyAccess": "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
        "AWSXRayDaemonWriteAccess": "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess",
    }

    def load(self) -> dict[str, str]:
        return dict(self.POLICIES)


def sam_transform(template: Template, parameters: dict[str, Any]) -> Template:
    """The CloudFormation template SAM makes of `template` (needs AWS_DEFAULT_REGION set).

    Local CodeUri/ContentUri become s3:// URIs first, as `sam validate` does: the translator
    accepts no local paths.
    """
    fragment = copy.deepcopy(template)
    for name, resource in fragment.get("Resources", {}).items():
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function" and "CodeUri" in properties:
            properties["CodeUri"] = f"s3://ekmint-test-bucket/{name}.zip"
        if resource.get("Type") == "AWS::Serverless::LayerVersion" and "ContentUri" in properties:
            properties["ContentUri"] = f"s3://ekmint-test-bucket/{name}.zip"
    transformed: Template = transform(fragment, dict(parameters), OfflinePolicyLoader())
    return transformed


# ---------------------------------------------------------------- conditions


def parameter_values(template: Template, overrides: dict[str, Any]) -> dict[str, str]:
    """Every parameter's value as CloudFormation sees it (a string): override, else default."""
    values: dict[str, str] = {}
    for name, spec in template.get("Parameters", {}).items():
        if name in overrides:
            values[name] = str(overrides[name])
        elif "Default" in spec:
            values[name] = str(spec["Default"])
        else:
            raise KeyError(f"parameter {name} has no default; give it a value")
    unknown = set(overrides) - set(values)
    if unknown:
        raise KeyError(f"no such parameters: {sorted(unknown)}")
    return values


def _condition_value(node: Any, params: dict[str, str], conditions: dict[str, Any]) -> Any:
    if isinstance(node, dict) and len(node) == 1:
        ((key, arg),) = node.items()
        if key == "Ref":
            return params[arg]
        if key == "Condition":
            return _evaluate(arg, params, conditions)
        if key == "Fn::Equals":
            left, right = (_condition_value(v, params, conditions) for v in arg)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not _condition_value(arg[0], params, conditions)
        if key == "Fn::And":
            return all(_condition_value(v, params, conditions) for v in arg)
        if key == "Fn::Or":
            return any(_condition_value(v, params, conditions) for v in arg)
        raise ValueError(f"condition function {key} is not supported here")
    return node


def _evaluate(name: str, params: dict[str, str], conditions: dict[str, Any]) -> bool:
    return bool(_condition_value(conditions[name], params, conditions))


def rule_failures(template: Template, overrides: dict[str, Any]) -> list[str]:
    """The AssertDescription of every `Rules` assertion CloudFormation would refuse the change
    set with, for these parameter values (rules whose RuleCondition is false are skipped)."""
    params = parameter_values(template, overrides)
    failures: list[str] = []
    for rule in template.get("Rules", {}).values():
        if "RuleCondition" in rule and not _condition_value(rule["RuleCondition"], params, {}):
            continue
        for assertion in rule["Assertions"]:
            if not _condition_value(assertion["Assert"], params, {}):
                failures.append(" ".join(str(assertion.get("AssertDescription", "")).split()))
    return failures


_NO_VALUE = object()


def _resolve_ifs(node: Any, truth: dict[str, bool]) -> Any:
    if isinstance(node, dict):
        if node == {"Ref": "AWS::NoValue"}:
            return _NO_VALUE
        if set(node) == {"Fn::If"}:
            name, when_true, when_false = node["Fn::If"]
            return _resolve_ifs(when_true if truth[name] else when_false, truth)
        resolved = {key: _resolve_ifs(value, truth) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not _NO_VALUE}
    if isinstance(node, list):
        items = [_resolve_ifs(value, truth) for value in node]
        return [value for value in items if value is not _NO_VALUE]
    return node


def resolve_conditions(template: Template, overrides: dict[str, Any]) -> Template:
    """The template as CloudFormation would deploy it with these parameter values: resources and
    outputs whose Condition is false are gone, every `Fn::If` is decided, `AWS::NoValue` removed.
    """
    params = parameter_values(template, overrides)
    conditions = template.get("Conditions", {})
    truth = {name: _evaluate(name, params, conditions) for name in conditions}
    resolved: Template = _resolve_ifs(copy.deepcopy(template), truth)
    for section in ("Resources", "Outputs"):
        entries = resolved.get(section, {})
        for name in [n for n, e in entries.items() if "Condition" in e]:
            if truth[entries[name]["Condition"]]:
                del entries[name]["Condition"]
            else:
                del entries[name]
    return resolved


# ---------------------------------------------------------------- IAM


def describe(resource: Any) -> str:
    """A resource of a statement as one comparable string: 'Ref:X', 'GetAtt:X.Arn' or the text."""
    if isinstance(resource, str):
        return resource
    if isinstance(resource, dict) and set(resource) == {"Ref"}:
        return f"Ref:{resource['Ref']}"
    if isinstance(resource, dict) and set(resource) == {"Fn::GetAtt"}:
        target = resource["Fn::GetAtt"]
        return "GetAtt:" + (target if isinstance(target, str) else ".".join(target))
    if isinstance(resource, dict) and set(resource) == {"Fn::Sub"}:
        text = resource["Fn::Sub"]
        return text if isinstance(text, str) else json.dumps(text, sort_keys=True)
    return json.dumps(resource, sort_keys=True)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _policy_documents(template: Template) -> list[tuple[str, dict[str, Any]]]:
    """(where, policy document) for every inline role policy and every IAM policy resource."""
    documents: list[tuple[str, dict[str, Any]]] = []
    for name, resource in template.get("Resources", {}).items():
        kind = resource.get("Type")
        properties = resource.get("Properties", {})
        if kind == "AWS::IAM::Role":
            for policy in properties.get("Policies", []):
                where = f"{name}/{policy.get('PolicyName', '?')}"
                documents.append((where, policy["PolicyDocument"]))
        elif kind in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"}:
            documents.append((name, properties["PolicyDocument"]))
    return documents


def role_grants(template: Template) -> dict[str, set[Grant]]:
    """Each IAM role's (action, resource) pairs from its inline policies' Allow statements."""
    grants: dict[str, set[Grant]] = {}
    for name, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::IAM::Role":
            continue
        pairs: set[Grant] = set()
        for policy in resource.get("Properties", {}).get("Policies", []):
            for statement in _as_list(policy["PolicyDocument"].get("Statement", [])):
                if statement.get("Effect") != "Allow":
                    continue
                for action in _as_list(statement.get("Action", [])):
                    for target in _as_list(statement.get("Resource", [])):
                        pairs.add((action, describe(target)))
        grants[name] = pairs
    return grants


def wide_grants(template: Template) -> list[str]:
    """Everything in the template's IAM that grants more than named actions on named resources."""
    problems: list[str] = []
    for name, resource in template.get("Resources", {}).items():
        if resource.get("Type") == "AWS::IAM::Role":
            for arn in resource.get("Properties", {}).get("ManagedPolicyArns", []):
                problems.append(f"{name}: managed policy {describe(arn)} (statements not checked)")
    for where, document in _policy_documents(template):
        for statement in _as_list(document.get("Statement", [])):
            if statement.get("Effect") != "Allow":
                continue
            for key in ("NotAction", "NotResource"):
                if key in statement:
                    problems.append(f"{where}: Allow with {key}")
            actions = [str(a) for a in _as_list(statement.get("Action", []))]
            resources = [describe(r) for r in _as_list(statement.get("Resource", []))]
            for action in actions:
                service = action.split(":", 1)[0].lower()
                if "*" in action:
                    problems.append(f"{where}: wildcard action {action}")
                if service in SERVICES_WITHOUT_RESOURCES:
                    continue
                for target in resources:
                    if "*" in target:
                        problems.append(f"{where}: {action} on wildcard resource {target}")
    return problems


def least_privilege_problems(template: Template, role: str, expected: set[Grant]) -> list[str]:
    """[] when `role` is the only IAM role and grants exactly `expected`, and nothing is wide."""
    problems = wide_grants(template)
    grants = role_grants(template)
    others = sorted(set(grants) - {role})
    if others:
        problems.append(f"unexpected IAM roles: {others}")
    actual = grants.get(role, set())
    problems += [f"{role}: extra grant {g}" for g in sorted(actual - expected)]
    problems += [f"{role}: missing grant {g}" for g in sorted(expected - actual)]
    return problems
