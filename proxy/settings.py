"""The proxy's settings: environment only, embedded-mode defaults (docs/components.md)."""

from __future__ import annotations

import os
import secrets
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_TEMPLATE = Path(__file__).resolve().parent / "routes.default.yaml"


class ProxySettings(BaseSettings):
    """Every knob of the proxy process, read from the environment."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=False)

    listen: str = Field(default="127.0.0.1:8080", validation_alias="PROXY_LISTEN")
    admin_listen: str = Field(default="127.0.0.1:8081", validation_alias="PROXY_ADMIN_LISTEN")
    var_dir: Path = Field(default=Path("var"), validation_alias="STRANGLER_VAR_DIR")
    routes_file: Path | None = Field(default=None, validation_alias="PROXY_ROUTES_FILE")
    routes_template: Path = Field(
        default=DEFAULT_TEMPLATE, validation_alias="PROXY_ROUTES_TEMPLATE"
    )
    admin_token: str | None = Field(default=None, validation_alias="PROXY_ADMIN_TOKEN")
    diff_database_url: str | None = Field(default=None, validation_alias="PROXY_DIFF_DATABASE_URL")
    #: Largest request body forwarded (bytes); larger is a 413.
    max_body_bytes: int = Field(default=1024 * 1024, gt=0, validation_alias="PROXY_MAX_BODY_BYTES")
    #: Shadow requests waiting to be sent; a full queue drops (and counts) new ones.
    shadow_queue_size: int = Field(default=1000, ge=1, validation_alias="PROXY_SHADOW_QUEUE_SIZE")
    #: Concurrent shadow senders.
    shadow_workers: int = Field(default=4, ge=1, validation_alias="PROXY_SHADOW_WORKERS")
    #: Most header lines one request may carry; more is a 431.
    max_headers: int = Field(default=100, ge=1, le=10_000, validation_alias="PROXY_MAX_HEADERS")
    #: Longest request line or header line (bytes); longer is a 431.
    max_header_bytes: int = Field(
        default=8190, ge=256, le=1024 * 1024, validation_alias="PROXY_MAX_HEADER_BYTES"
    )
    #: Largest whole request head (request line and every header line, bytes); larger is a
    #: 431. Chunked trailers are held to the same total, and dropped.
    max_head_bytes: int = Field(
        default=32 * 1024, ge=1024, le=4 * 1024 * 1024, validation_alias="PROXY_MAX_HEAD_BYTES"
    )
    #: A client must send a whole request head within this many seconds of its first byte
    #: (408 and close otherwise: the slowloris defence).
    header_timeout_s: float = Field(
        default=10.0, gt=0, le=600, validation_alias="PROXY_HEADER_TIMEOUT_S"
    )
    #: Peers (comma-separated CIDRs or addresses) whose X-Forwarded-*/Forwarded headers are
    #: kept and extended; from anyone else they are replaced. Empty: trust no one.
    trusted_proxies: str = Field(default="", validation_alias="PROXY_TRUSTED_PROXIES")
    #: Read-your-writes memory of one proxy process: (group, key) pairs kept, oldest dropped.
    read_your_writes_max_keys: int = Field(
        default=100_000, ge=1, validation_alias="PROXY_READ_YOUR_WRITES_MAX_KEYS"
    )
    #: JSON endpoint polled for the sync lag stored with each mismatch (proxy/synclag.py),
    #: e.g. the monolith's ``/internal/outbox/stats``; unset: the lag is stored as unknown.
    sync_lag_url: str | None = Field(default=None, validation_alias="PROXY_SYNC_LAG_URL")
    sync_lag_interval_s: float = Field(
        default=2.0, gt=0, validation_alias="PROXY_SYNC_LAG_INTERVAL_S"
    )
    #: How often the route file is polled for changes (seconds).
    reload_interval_s: float = Field(default=0.5, gt=0, validation_alias="PROXY_RELOAD_INTERVAL_S")

    @field_validator("listen", "admin_listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        split_host_port(value)
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _cidrs(cls, value: str) -> str:
        parse_networks(value)
        return value

    @property
    def trusted_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        return parse_networks(self.trusted_proxies)

    @property
    def var(self) -> Path:
        return self.var_dir.resolve()

    @property
    def routes_path(self) -> Path:
        return (self.routes_file or self.var / "routes.yaml").resolve()

    @property
    def diff_url(self) -> str:
        return self.diff_database_url or f"sqlite:///{self.var / 'proxy.sqlite3'}"

    def resolve_admin_token(self) -> str:
        """``PROXY_ADMIN_TOKEN``, else the token kept in ``$VAR/admin-token`` (made once)."""
        return self.admin_token or ensure_token_file(self.var / "admin-token")


def parse_networks(value: str) -> tuple[IPv4Network | IPv6Network, ...]:
    """``"10.0.0.0/8, 127.0.0.1"`` -> networks; a clear ValueError for a bad entry."""
    networks = []
    for entry in (part.strip() for part in value.split(",")):
        if not entry:
            continue
        try:
            networks.append(ip_network(entry, strict=False))
        except ValueError as err:
            raise ValueError(f"not an IP address or CIDR: {entry!r}") from err
    return tuple(networks)


def split_host_port(value: str) -> tuple[str, int]:
    """``"127.0.0.1:8080"`` -> ``("127.0.0.1", 8080)``; a clear ValueError otherwise."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def ensure_token_file(path: Path) -> str:
    """Read the admin token from ``path``; create it (0600, exclusively) when missing."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    return token


def read_token_file(path: Path) -> str | None:
    """The token in ``path`` if there is one (the CLI reads, never creates)."""
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None
