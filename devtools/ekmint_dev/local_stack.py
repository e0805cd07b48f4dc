"""The whole service on one machine (`make dev`): the wiring, not the parts.

    browser / curl
         |  http://127.0.0.1:PORT
    gateway.py  (API Gateway: CORS, routes, JWT authorizer, limits; the demo page's files)
         |  payload 2.0 event
    workers.py  (execution environments: worker processes, cold on demand, one request each)
         |  ekmint.handler.lambda_handler, the code Lambda runs
         +--> moto server on 127.0.0.1:LOCAL_AWS_PORT (DynamoDB tables from template.yaml,
         |    the Secrets Manager secret, the stack's own SSM record for the CLI)
         +--> OpenAI: the built-in emulator on a free loopback port, or OPENAI_BASE_URL when
              OPENAI_API_KEY is set

Everything runs in this process or its children, binds 127.0.0.1 only, and stops in `stop()`.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from ekmint.settings import DEFAULT_OPENAI_BASE_URL, DEFAULT_QUOTAS, Settings, load_settings

from . import stack_info
from .aws_fault_proxy import ADMIN_PREFIX as AWS_FAULTS_PREFIX
from .aws_fault_proxy import AwsFaultProxy
from .dynamodb_conflicts import ConflictSettings
from .emulator import Emulator
from .emulator.dialect import DIALECTS, DialectName
from .function_config import (
    FunctionDefinition,
    from_environment,
    function_definition,
    process_environment,
)
from .gateway import CALLS_PATH, ROUTE_PATH, CorsConfig, Gateway, GatewayConfig
from .jwt_local import (
    DEFAULT_AUDIENCE,
    ISSUER_PATH,
    JwtAuthorizer,
    default_issuer,
    discovery_document,
    load_or_create_key,
    local_dir,
    parse_audiences,
)
from .local_aws import LOCAL_REGION, REPO_ROOT, LocalNames, MotoProcess, provision
from .realtime_peer import LOCAL_CONFIG_PATH, local_page_config
from .stack_info import DEFAULT_AWS_PORT, DEFAULT_PORT
from .workers import EnvironmentPool, FunctionSpec, Invocation, PoolStopped

DEFAULT_WORKERS = 4
STATIC_ROOT = REPO_ROOT / "examples" / "static-site"


class StackError(Exception):
    """The stack cannot start (a port in use, …); the message says what to do."""


def own_origins(port: int) -> str:
    return f"http://localhost:{port},http://127.0.0.1:{port}"


class Console:
    """The stack's own log lines (banner, one line per request), serialized across threads."""

    def __init__(self, stream: TextIO = sys.stdout) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def line(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        with self._lock:
            self._stream.write(f"{stamp} {text}\n")
            self._stream.flush()

    def block(self, text: str) -> None:
        with self._lock:
            self._stream.write(text.rstrip("\n") + "\n")
            self._stream.flush()


@dataclass(frozen=True)
class StackOptions:
    port: int = DEFAULT_PORT
    aws_port: int = DEFAULT_AWS_PORT
    workers: int = DEFAULT_WORKERS
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    static_root: Path = STATIC_ROOT


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _cors(definition: FunctionDefinition, origins: tuple[str, ...]) -> CorsConfig:
    """The HttpApi's CorsConfiguration, with AllowOrigins (a !Split of a parameter in the
    template) replaced by the local allow-list."""
    raw = definition.cors

    def names(key: str, fallback: tuple[str, ...]) -> tuple[str, ...]:
        value = raw.get(key)
        return tuple(str(v) for v in value) if isinstance(value, list) else fallback

    defaults = CorsConfig(allow_origins=origins)
    max_age = raw.get("MaxAge")
    return CorsConfig(
        allow_origins=origins,
        allow_methods=names("AllowMethods", defaults.allow_methods),
        allow_headers=names("AllowHeaders", defaults.allow_headers),
        expose_headers=names("ExposeHeaders", defaults.expose_headers),
        max_age_s=int(max_age) if isinstance(max_age, int) else defaults.max_age_s,
        allow_credentials=raw.get("AllowCredentials") is True,
    )


class LocalStack:
    """Plans on construction (and raises SettingsError for a bad setting, before anything
    starts); `start()` brings the parts up, `stop()` takes them all down."""

    def __init__(self, options: StackOptions, console: Console | None = None) -> None:
        self.options = options
        self.console = console or Console()
        self.definition = function_definition()
        environ = options.environ
        self._openai_key = environ.get("OPENAI_API_KEY", "").strip() or None
        self.function_env = self._function_env(environ)
        self.names = LocalNames(
            audit_table=self.function_env["AUDIT_TABLE_NAME"],
            quota_table=self.function_env["QUOTA_TABLE_NAME"],
            secret_id=self.function_env["OPENAI_SECRET_ID"],
        )
        # The same check, and the same message, as the function's cold start.
        self.settings: Settings = load_settings(self.function_env)
        # LOCAL_DYNAMODB_CONFLICTS=on: local DynamoDB cancels concurrent transactions as AWS does.
        self.conflicts = ConflictSettings.from_env(environ)
        self.jwt_issuer = environ.get("JWT_ISSUER", "").strip() or default_issuer(options.port)
        self.jwt_audiences = parse_audiences(environ.get("JWT_AUDIENCE", "")) or (DEFAULT_AUDIENCE,)
        self.moto: MotoProcess | None = None
        self.emulator: Emulator | None = None
        self.aws_proxy: AwsFaultProxy | None = None
        self.pool: EnvironmentPool | None = None
        self.gateway: Gateway | None = None
        # GET documents of the gateway, filled in once the emulator's port is known.
        self._documents: dict[str, dict[str, Any]] = {}

    @property
    def uses_emulator(self) -> bool:
        return self._openai_key is None

    def _function_env(self, environ: Mapping[str, str]) -> dict[str, str]:
        local_defaults = {
            "OPENAI_SECRET_ID": LocalNames.secret_id,
            "AUDIT_TABLE_NAME": LocalNames.audit_table,
            "QUOTA_TABLE_NAME": LocalNames.quota_table,
            "ALLOWED_ORIGINS": own_origins(self.options.port),
        }
        env = dict(self.definition.defaults) | local_defaults
        env |= from_environment(environ, sorted(self.definition.settable))
        if self.uses_emulator:
            # Replaced by the emulator's URL at start; a placeholder keeps validation honest
            # (with UPSTREAM_PROVIDER=azure, the emulator speaks Azure under /openai/v1).
            prefix = DIALECTS[self._provider(env)].prefix
            env["OPENAI_BASE_URL"] = f"http://127.0.0.1:9{prefix}"
        else:
            env["OPENAI_BASE_URL"] = (
                environ.get("OPENAI_BASE_URL", "").strip() or DEFAULT_OPENAI_BASE_URL
            )
        return env

    @staticmethod
    def _provider(env: Mapping[str, str]) -> DialectName:
        return "azure" if env.get("UPSTREAM_PROVIDER", "").strip() == "azure" else "openai"

    # -- start and stop ------------------------------------------------------------------

    def start(self) -> LocalStack:
        options = self.options
        if not _port_free(options.aws_port):
            # Checked first: moto's threaded server waits forever if its port is taken.
            raise StackError(
                f"port {options.aws_port} (local AWS) is in use: stop what holds it, or set "
                "LOCAL_AWS_PORT / --aws-port"
            )
        try:
            # Bound now, served once everything behind it is up: a taken port fails fast.
            self.gateway = Gateway(
                options.port, self._gateway_config(), self._invoke, self.console.line
            )
        except OSError as exc:
            raise StackError(
                f"port {options.port} (the API) is in use: set PORT / --port ({exc})"
            ) from None
        # werkzeug (under moto) prints every AWS call; the request lines below say enough.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.moto = MotoProcess(options.aws_port, conflicts=self.conflicts).start()
        upstream_key = self._openai_key or f"sk-local-emulator-{secrets.token_hex(12)}"
        provision(self.moto.url, upstream_key, self.names)
        # The environments reach AWS through this proxy, so AWS faults (throttling, failed
        # writes) can be scripted while the stack runs; `aws --endpoint-url` still goes to moto.
        self.aws_proxy = AwsFaultProxy(self.moto.url).start()
        if self.uses_emulator:
            # The pages the gateway lets mint keys may also post their WebRTC offers; the
            # session policy's models are the emulated Azure resource's deployment names.
            self.emulator = Emulator(
                api_keys=[upstream_key],
                dialect=self.settings.upstream_provider,
                deployments=self.settings.session_policy.models,
                browser_origins=self.settings.allowed_origins,
            ).start()
            self._show_emulator_log()
            self.function_env["OPENAI_BASE_URL"] = self.emulator.url
            self.settings = load_settings(self.function_env)
        # The demo page asks where to send its WebRTC offer: the emulator's peer, or OpenAI.
        self._documents[LOCAL_CONFIG_PATH] = local_page_config(
            self.emulator.url if self.emulator else None
        )
        self.pool = EnvironmentPool(self._spec(), options.workers, announce=self.console.line)
        stack_info.publish(self.info())
        self.gateway.start()
        return self

    def stop(self) -> None:
        """Gateway first (no new requests), then the environments, then what they call.

        Each part's stop time goes to the log: `make dev` promises to stop within 5 s of
        SIGTERM, and the line says which part took the time when it does not."""
        parts: list[tuple[str, Any]] = [
            ("gateway", self.gateway),
            ("environments", self.pool),
            ("emulator", self.emulator),
            ("AWS proxy", self.aws_proxy),
            ("local AWS", self.moto),
        ]
        took: list[str] = []
        for name, part in parts:
            if part is None:
                continue
            started = time.monotonic()
            part.stop()
            took.append(f"{name} {time.monotonic() - started:.2f} s")
        if took:
            self.console.line("stop times: " + ", ".join(took))

    def _show_emulator_log(self) -> None:
        # One line per upstream call (and the fault it got), so the developer sees retries.
        emulator_log = logging.getLogger("ekmint_dev.emulator")
        if not emulator_log.handlers:
            handler = logging.StreamHandler(sys.stdout)
            handler.setFormatter(
                logging.Formatter("%(asctime)s emulator | %(message)s", datefmt="%H:%M:%S")
            )
            emulator_log.addHandler(handler)
            emulator_log.setLevel(logging.INFO)
            emulator_log.propagate = False

    def _spec(self) -> FunctionSpec:
        assert self.moto is not None
        definition = self.definition
        return FunctionSpec(
            handler=definition.handler,
            timeout_s=definition.timeout_s,
            memory_mb=definition.memory_mb,
            name=f"ekmint-{definition.logical_id}-local",
            environment=process_environment(
                self.function_env,
                definition,
                aws_endpoint=self.aws_proxy.url if self.aws_proxy else self.moto.url,
                environ=self.options.environ,
            ),
        )

    def _gateway_config(self) -> GatewayConfig:
        cors = _cors(self.definition, self.settings.allowed_origins)
        static_root = self.options.static_root
        routes = self.definition.routes
        if self.settings.auth_mode != "jwt":
            return GatewayConfig(
                cors=cors, static_root=static_root, documents=self._documents, routes=routes
            )
        key = load_or_create_key(local_dir(self.options.environ))
        documents = self._documents
        if self.jwt_issuer == default_issuer(self.options.port):
            # This stack is the issuer: publish its discovery documents as an IdP would.
            discovery = discovery_document(self.jwt_issuer)
            documents[f"{ISSUER_PATH}/.well-known/openid-configuration"] = discovery
            documents[f"{ISSUER_PATH}/.well-known/jwks.json"] = {"keys": [key.jwk()]}
        authorizer = JwtAuthorizer(key, self.jwt_issuer, self.jwt_audiences)
        return GatewayConfig(
            cors=cors,
            authorizer=authorizer,
            static_root=static_root,
            documents=documents,
            routes=routes,
        )

    def _invoke(self, event: Mapping[str, Any], aws_request_id: str, wait_s: float) -> Invocation:
        if self.pool is None:
            raise PoolStopped
        return self.pool.invoke(event, aws_request_id, wait_s)

    # -- what others need to know ---------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.options.port}"

    def info(self) -> stack_info.StackInfo:
        assert self.moto is not None
        jwt = self.settings.auth_mode == "jwt"
        return stack_info.StackInfo(
            gateway_url=self.url,
            aws_endpoint=self.moto.url,
            upstream="emulator" if self.uses_emulator else "openai",
            openai_base_url=self.settings.openai_base_url,
            emulator_admin_url=self.emulator.admin_url if self.emulator else None,
            audit_table=self.names.audit_table,
            quota_table=self.names.quota_table,
            secret_id=self.names.secret_id,
            auth_mode=self.settings.auth_mode,
            jwt_issuer=self.jwt_issuer if jwt else None,
            jwt_audience=",".join(self.jwt_audiences) if jwt else None,
            pid=os.getpid(),
            aws_faults_url=f"{self.aws_proxy.url}{AWS_FAULTS_PREFIX}" if self.aws_proxy else None,
            upstream_provider=self.settings.upstream_provider,
        )

    def banner(self) -> str:
        s = self.settings
        aws = self.moto.url if self.moto else "?"
        port_flags = self._cli_flags()
        if self.emulator is not None:
            kind = "Azure OpenAI" if s.upstream_provider == "azure" else "OpenAI"
            upstream = [
                f"built-in {kind} emulator at {self.emulator.url} (no OPENAI_API_KEY set)",
                f'script faults: ekmint faults set \'[{{"kind":"status","status":429}}]\''
                f"{port_flags}   (or {self.emulator.admin_url}/faults)",
                f"voice: WebRTC calls at {self.emulator.calls_url}, faults at "
                f"{self.emulator.admin_url}/realtime/faults (docs/frontend.md)",
            ]
        else:
            kind = "Azure OpenAI" if s.upstream_provider == "azure" else "OpenAI"
            upstream = [f"{kind} at {s.openai_base_url} (key from OPENAI_API_KEY, in the secret)"]
        if s.auth_mode == "jwt":
            auth = [
                f"AUTH_MODE=jwt: the gateway checks Bearer tokens like API Gateway's JWT "
                f"authorizer (issuer {self.jwt_issuer}, audience {','.join(self.jwt_audiences)})",
                f"get a dev token: ekmint token --sub alice{port_flags}",
            ]
        else:
            auth = ["AUTH_MODE=none: the caller is its source IP"]
        curl_auth = (
            f' -H "Authorization: Bearer $(ekmint token --sub alice{port_flags})"'
            if s.auth_mode == "jwt"
            else ""
        )
        minute, day = s.quota_per_minute, s.quota_per_day
        mode_default = (minute, day) == DEFAULT_QUOTAS.get(s.auth_mode)
        quota = f"{minute}/minute and {day}/day per caller, {s.global_daily_cap}/day in all" + (
            " (the defaults for this AUTH_MODE)" if mode_default else ""
        )
        root = self.options.static_root
        shown_root = root.relative_to(REPO_ROOT) if root.is_relative_to(REPO_ROOT) else root
        static = (
            f"{self.url}/ serves {shown_root}/"
            if root.is_dir()
            else f"no demo page ({shown_root}/ does not exist)"
        )
        lines = [
            f"ekmint local stack: {self.url}",
            f"  API        POST {self.url}{ROUTE_PATH}",
            f"             curl -sX POST {self.url}{ROUTE_PATH}{curl_auth}",
            f"             POST {self.url}{CALLS_PATH} (an SDP offer, relayed)",
            f"  page       {static}",
            f"  function   {self.definition.handler} ({self.definition.logical_id}): up to "
            f"{self.options.workers} execution environments, each started cold on demand, "
            f"one request at a time, {self.definition.timeout_s:.0f} s timeout",
            f"  auth       {auth[0]}",
            *(f"             {line}" for line in auth[1:]),
            f"  CORS       {', '.join(s.allowed_origins) or '(no origin allowed)'}",
            f"  quota      {quota}",
            f"  upstream   {upstream[0]}",
            *(f"             {line}" for line in upstream[1:]),
            f"  local AWS  moto at {aws} (region {LOCAL_REGION}, any credentials)",
            f"             tables {self.names.audit_table} (audit), {self.names.quota_table} "
            f"(quota); secret {self.names.secret_id}",
            f"             AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing aws --region "
            f"{LOCAL_REGION} --endpoint-url {aws} dynamodb scan --table-name "
            f"{self.names.audit_table}",
            f"             {self._conflicts_line()}",
            f"             ekmint audit{port_flags}   (the last day's audit records)",
            f"             AWS faults: curl -X PUT {self.info().aws_faults_url} -d "
            '\'[{"target":"DynamoDB_20120810.PutItem","error":"ThrottlingException"}]\'',
            "Each request is logged with the environment that served it (env-N, cold or warm).",
            "Ctrl-C stops everything.",
        ]
        return "\n".join(lines)

    def _conflicts_line(self) -> str:
        if self.conflicts is None:
            return (
                "DynamoDB conflict model off: calls are applied one at a time "
                "(LOCAL_DYNAMODB_CONFLICTS=on models AWS's transaction conflicts)"
            )
        return f"{self.conflicts.describe()}; each injected conflict is logged (local-aws |)"

    def _cli_flags(self) -> str:
        return (
            ""
            if self.options.aws_port == DEFAULT_AWS_PORT
            else f" --aws-port {self.options.aws_port}"
        )
