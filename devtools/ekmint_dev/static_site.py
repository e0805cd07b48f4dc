"""Files of the demo page (examples/static-site/) for the local gateway to serve at `/`.

Only regular files inside the folder: no directory listing, no path traversal (`..`, encoded
or not, and symlinks pointing out are refused), no dotfiles. In AWS the page is hosted
elsewhere (S3, CloudFront, any static host); this is a local convenience, so the page and the
API share an origin that the local stack allows by default.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

# mimetypes reads the OS's tables, which differ between machines; pin the types browsers are
# strict about (module scripts must be JavaScript, or the browser refuses to run them).
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".wasm": "application/wasm",
    ".woff2": "font/woff2",
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
}
INDEX = "index.html"


@dataclass(frozen=True)
class StaticFile:
    path: Path
    content_type: str


def content_type_of(path: Path) -> str:
    known = CONTENT_TYPES.get(path.suffix.lower())
    if known:
        return known
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


def resolve(root: Path, url_path: str) -> StaticFile | None:
    """The file a GET of `url_path` serves, or None (a 404)."""
    if not root.is_dir():
        return None
    decoded = unquote(url_path)
    if "\x00" in decoded or "\\" in decoded:
        return None
    parts = [part for part in decoded.split("/") if part]
    if any(part.startswith(".") for part in parts):
        return None  # "..", ".env", ".git": never
    base = root.resolve()
    candidate = base.joinpath(*parts).resolve()
    if not candidate.is_relative_to(base):
        return None
    if candidate.is_dir():
        candidate = candidate / INDEX
    if not candidate.is_file():
        return None
    return StaticFile(candidate, content_type_of(candidate))
