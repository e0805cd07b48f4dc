"""The mint function's configuration, read from template.yaml itself, for local runs.

Handler, timeout, memory, the environment variables the function declares and their defaults
(the template's own parameter defaults) and the HTTP API's CORS configuration all come from
the template, so the local stack cannot drift from what `sam deploy` creates.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from ekmint.settings import ENV_VARS

from .local_aws import LOCAL_ACCESS_KEY_ID, LOCAL_REGION, TEMPLATE, load_template

FUNCTION_ID = "MintFunction"
API_ID = "HttpApi"
# Process variables an execution environment inherits from the machine; the rest of its
# environment is the function's own, as in Lambda. The developer's AWS profile, the OpenAI
# key and everything else stay out.
INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "VIRTUAL_ENV")
INHERITED_PREFIXES = ("PYTHON", "COVERAGE_")
# Declared by the template for `sam local invoke` only (absent in AWS); the local stack and
# `ekmint invoke` point the function at local AWS themselves, so no file or shell may move it.
LOCAL_ONLY = frozenset({"AWS_ENDPOINT_URL"})


@dataclass(frozen=True)
class FunctionDefinition:
    logical_id: str = FUNCTION_ID
    handler: str = "ekmint.handler.lambda_handler"
    timeout_s: float = 25.0
    memory_mb: int = 512
    # Names in the function's Environment.Variables, and the values they get when every
    # template parameter keeps its default.
    declared: tuple[str, ...] = ()
    defaults: Mapping[str, str] = field(default_factory=dict)
    cors: Mapping[str, Any] = field(default_factory=dict)
    # The HTTP API's routes ("POST /api/client-secret", …): what the local gateway serves.
    routes: tuple[str, ...] = ()

    @property
    def settable(self) -> frozenset[str]:
        """What the local stack and `ekmint invoke` pass through: the template's variables and
        every setting the function reads (some, like UPSTREAM_*, keep defaults in the
        template)."""
        return (frozenset(self.declared) | frozenset(ENV_VARS)) - LOCAL_ONLY


def _parameter_default(parameters: Mapping[str, Any], value: Any) -> str | None:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, dict) and set(value) == {"Ref"}:
        default = (parameters.get(value["Ref"]) or {}).get("Default")
        if default is not None and str(default) != "":
            return str(default)
    return None  # resources, conditions, or "" (the setting's own default applies)


def function_definition(template: Path = TEMPLATE) -> FunctionDefinition:
    document = load_template(template)
    parameters = document.get("Parameters") or {}
    resources = document["Resources"]
    properties = resources[FUNCTION_ID]["Properties"]
    variables: dict[str, Any] = (properties.get("Environment") or {}).get("Variables") or {}
    defaults = {
        name: resolved
        for name, value in variables.items()
        if (resolved := _parameter_default(parameters, value)) is not None
    }
    memory = _parameter_default(parameters, properties.get("MemorySize", 512)) or "512"
    timeout = _parameter_default(parameters, properties.get("Timeout", 25)) or "25"
    api = resources.get(API_ID, {}).get("Properties", {})
    return FunctionDefinition(
        handler=str(properties.get("Handler", "ekmint.handler.lambda_handler")),
        timeout_s=float(timeout),
        memory_mb=int(memory),
        declared=tuple(variables),
        defaults=defaults,
        cors=api.get("CorsConfiguration") or {},
        routes=tuple(
            str(resource["Properties"]["RouteKey"])
            for resource in resources.values()
            if resource.get("Type") == "AWS::ApiGatewayV2::Route"
        ),
    )


def load_env_file(path: Path, function_id: str = FUNCTION_ID) -> dict[str, str]:
    """SAM's --env-vars file: `{"Parameters": {…}}` for every function, then
    `{"<FunctionLogicalId>": {…}}` for one, which wins."""
    document = json.loads(path.read_text())
    if not isinstance(document, dict):
        raise ValueError(f"{path}: expected a JSON object")
    merged: dict[str, str] = {}
    for section in ("Parameters", function_id):
        values = document.get(section) or {}
        if not isinstance(values, dict):
            raise ValueError(f"{path}: {section} must be an object of NAME: value")
        merged |= {str(k): "" if v is None else str(v) for k, v in values.items()}
    return merged


def pick_settable(
    values: Mapping[str, str],
    definition: FunctionDefinition,
    *,
    warn: TextIO | None = None,
    source: str = "",
) -> dict[str, str]:
    """Keep the names the function reads; like SAM, ignore (and say so) the others."""
    kept = {name: value for name, value in values.items() if name in definition.settable}
    ignored = sorted(set(values) - set(kept))
    if ignored and warn is not None:
        print(
            f"{source}: ignoring {', '.join(ignored)} (not a variable of the function)", file=warn
        )
    return kept


def from_environment(environ: Mapping[str, str], names: Iterable[str]) -> dict[str, str]:
    return {name: environ[name] for name in names if environ.get(name, "").strip()}


def process_environment(
    function_env: Mapping[str, str],
    definition: FunctionDefinition,
    *,
    aws_endpoint: str,
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The whole environment of one execution environment's process."""
    env = os.environ if environ is None else environ
    inherited = {
        name: value
        for name, value in env.items()
        if name in INHERITED or name.startswith(INHERITED_PREFIXES)
    }
    lambda_like = {
        # What Lambda's runtime sets that code may look at; AWS_SAM_LOCAL is what
        # `sam local` sets, so code can tell it is not in AWS.
        "AWS_SAM_LOCAL": "true",
        "AWS_REGION": LOCAL_REGION,
        "AWS_DEFAULT_REGION": LOCAL_REGION,
        "AWS_LAMBDA_FUNCTION_NAME": f"ekmint-{definition.logical_id}-local",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(definition.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "_HANDLER": definition.handler,
        "TZ": ":UTC",
        # Every AWS call goes to local AWS (moto), with throwaway credentials: a developer's
        # profile can never reach a real account from here.
        "AWS_ENDPOINT_URL": aws_endpoint,
        "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": LOCAL_ACCESS_KEY_ID,
        "AWS_EC2_METADATA_DISABLED": "true",
        # Log lines reach the terminal as they are written, not when a buffer fills.
        "PYTHONUNBUFFERED": "1",
    }
    return inherited | lambda_like | dict(function_env)
