"""Lambda-like dependency sets for the benchmark, and the deployment artifacts' sizes.

The dev venv is no stand-in for Lambda: it also holds awscrt, pyOpenSSL, rich, click (SAM CLI's
dependencies) which boto3 and httpx import when they find them, adding hundreds of ms that Lambda
never pays. So each reference runs on a directory of exactly what its deployment would hold,
pip-installed for this machine (`pip install --target`), plus what the python3.13 runtime
provides: boto3, and awslambdaric, the runtime interface client the managed runtime runs (the
child imports it before timing, so each figure starts from the modules Lambda has loaded). They
are cached under bench/.cache, keyed by their requirements.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "bench" / ".cache"
LAYER_DIR = REPO / "layers" / "deps"
LAYER_REQUIREMENTS = LAYER_DIR / "requirements.txt"
SAM_BUILD_DIR = CACHE / "sam-build"
# Lambda's arm64 python3.13 target, for the naive reference's artifact estimate.
LAMBDA_PLATFORM = ("--platform", "manylinux2014_aarch64", "--python-version", "3.13")


def requirement_lines(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def pinned(distribution: str) -> str:
    """`name==version` as installed in the dev venv, so every set uses the same release."""
    return f"{distribution}=={importlib.metadata.version(distribution)}"


def layer_pin(distribution: str) -> str:
    for line in requirement_lines(LAYER_REQUIREMENTS):
        if line.lower().startswith(distribution.lower() + "=="):
            return line
    return pinned(distribution)


# The managed runtime's own copy lags PyPI by a release or so; the modules it imports have not
# changed in years (bootstrap.py: json, logging, decimal, traceback, threading, simplejson).
RUNTIME_CLIENT = "awslambdaric==4.2.2"


def runtime_requirements() -> list[str]:
    """What the runtime provides (boto3 is not in the layer: it stands in for the runtime's)."""
    return [pinned("boto3"), RUNTIME_CLIENT]


def ekmint_requirements(layer_dir: Path = LAYER_DIR) -> list[str]:
    """The layer's requirements (an older checkout's `requirements-nodeps.txt` too: bench.compare
    runs other commits) and what the runtime provides."""
    layer = [
        line
        for name in ("requirements.txt", "requirements-nodeps.txt")
        if (layer_dir / name).exists()
        for line in requirement_lines(layer_dir / name)
    ]
    return [*layer, *runtime_requirements()]


def naive_requirements(with_runtime: bool = True) -> list[str]:
    reqs = [pinned("openai"), layer_pin("aws-lambda-powertools")]
    return [*reqs, *runtime_requirements()] if with_runtime else reqs


def _pip(args: list[str], quiet_log: Path) -> None:
    command = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", *args]
    with quiet_log.open("w") as log:
        subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT)


def _key(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:12]


def site_dir(name: str, requirements: list[str], platform: tuple[str, ...] = ()) -> Path:
    """A directory holding exactly `requirements` and their dependencies, built once."""
    target = CACHE / f"{name}-{_key(requirements, platform, sys.version_info[:2])}"
    if (target / ".complete").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    log = CACHE / f"{target.name}.pip.log"
    shown = " ".join(requirements)
    print(f"  pip install {shown} -> {target.relative_to(REPO)}", file=sys.stderr)
    extra = [*platform, "--only-binary=:all:", "--implementation", "cp"] if platform else []
    _pip(["--target", str(target), "--no-input", *extra, *requirements], log)
    (target / ".complete").write_text("\n".join(requirements))
    return target


def base_python() -> str:
    """The interpreter behind the dev venv: a python3.13 with no site-packages of its own in use
    (children run it with -I -S)."""
    return str(getattr(sys, "_base_executable", sys.executable))


# ---------------------------------------------------------------- artifact sizes


@dataclass(frozen=True)
class Size:
    unzipped: int
    zipped: int
    files: int


def measure(*roots: Path) -> Size:
    """Bytes on disk and as one deflated zip (how Lambda receives it), excluding pip's caches."""
    buffer = io.BytesIO()
    unzipped = files = 0
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for root in roots:
            for path in sorted(root.rglob("*")):
                if not path.is_file() or path.name == ".complete":
                    continue
                unzipped += path.stat().st_size
                files += 1
                archive.write(path, path.relative_to(root).as_posix())
    return Size(unzipped, len(buffer.getvalue()), files)


def sam_build() -> Path:
    """`sam build` of template.yaml into bench/.cache/sam-build (not .aws-sam: others use it)."""
    bin_dir = Path(sys.executable).parent
    python_dir = Path(base_python()).parent
    env = dict(os.environ, PATH=f"{python_dir}:{bin_dir}:{os.environ.get('PATH', '')}")
    env.setdefault("SAM_CLI_TELEMETRY", "0")
    log = CACHE / "sam-build.log"
    CACHE.mkdir(parents=True, exist_ok=True)
    print("  sam build -> bench/.cache/sam-build", file=sys.stderr)
    with log.open("w") as out:
        subprocess.run(
            [
                str(bin_dir / "sam"),
                "build",
                "--template",
                str(REPO / "template.yaml"),
                "--build-dir",
                str(SAM_BUILD_DIR),
            ],
            check=True,
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return SAM_BUILD_DIR


def ekmint_artifact() -> tuple[Size, Size]:
    """(function, layer) as `sam build` makes them."""
    built = sam_build()
    return measure(built / "MintFunction"), measure(built / "DepsLayer")


def naive_artifact() -> Size:
    """The naive function's dependencies (no boto3: the runtime has it) for Lambda's platform."""
    site = site_dir("naive-aarch64", naive_requirements(with_runtime=False), LAMBDA_PLATFORM)
    return measure(site, REPO / "bench" / "refs")
