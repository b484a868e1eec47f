"""Hot reload of the route file: poll it, validate a changed file, swap it in atomically.

The serving table is one reference (:attr:`RouteWatcher.current`, a frozen :class:`Snapshot`);
a reload builds the whole new snapshot first and then assigns it, so no request ever sees a
half-loaded table. An invalid file is refused with one log line and ``last_error``; the last good
table keeps serving.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from proxy.config import ConfigError, RouteTable, parse_route_table
from proxy.lint import require_clean
from proxy.routing import Router

log = logging.getLogger("proxy.reload")

#: Re-read and hash the file at least this often even when mtime and size look unchanged
#: (a same-size edit within the file system's mtime granularity would otherwise be missed).
_FORCED_CHECK_S = 2.0


@dataclass(frozen=True)
class Snapshot:
    table: RouteTable
    router: Router
    loaded_at: datetime
    file: Path

    @property
    def digest(self) -> str:
        return self.table.digest


def ensure_routes_file(path: Path, template: Path) -> bool:
    """Copy ``template`` to ``path`` when ``path`` is missing; True when it copied."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    shutil.copyfile(template, tmp)
    try:
        os.link(tmp, path)  # never overwrites a file another process just wrote
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links: rename (atomic, may overwrite)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return True


def _parse(text: str, path: Path) -> RouteTable:
    """Validate and lint; a file with lint errors is refused like an invalid one."""
    table = parse_route_table(text, source=str(path))
    for warning in require_clean(table, source=str(path)):
        log.warning("routes: %s: %s", path, warning)
    return table


class RouteWatcher:
    """Holds the serving snapshot and refreshes it from the file."""

    def __init__(
        self,
        path: Path,
        *,
        interval_s: float = 0.5,
        on_table: Callable[[RouteTable], None] | None = None,
    ) -> None:
        self.path = path
        self.interval_s = interval_s
        self._on_table = on_table
        self.last_error: str | None = None
        self._stat: tuple[int, int] | None = None
        self._seen_digest = ""
        table = self._read_table()  # ConfigError propagates: a bad file at start is fatal
        if on_table is not None:
            on_table(table)
        self.current = Snapshot(table, Router(table), datetime.now(UTC), path)

    def _read_table(self) -> RouteTable:
        try:
            st = self.path.stat()
            data = self.path.read_bytes()
        except OSError as err:
            raise ConfigError(f"{self.path}: cannot read route file: {err.strerror}") from err
        self._stat = (st.st_mtime_ns, st.st_size)
        self._seen_digest = hashlib.sha256(data).hexdigest()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ConfigError(f"{self.path}: not UTF-8 text: {err}") from err
        return _parse(text, self.path)

    def check_now(self, *, force: bool = False) -> bool:
        """Reload if the file changed; True when a new table was swapped in."""
        try:
            st = self.path.stat()
        except OSError as err:
            return self._refuse(f"{self.path}: cannot read route file: {err.strerror}")
        if not force and self._stat == (st.st_mtime_ns, st.st_size):
            return False
        try:
            data = self.path.read_bytes()
        except OSError as err:
            return self._refuse(f"{self.path}: cannot read route file: {err.strerror}")
        self._stat = (st.st_mtime_ns, st.st_size)
        digest = hashlib.sha256(data).hexdigest()
        if digest == self._seen_digest:
            return False
        self._seen_digest = digest
        try:
            table = _parse(data.decode("utf-8"), self.path)
        except UnicodeDecodeError as err:
            return self._refuse(f"{self.path}: not UTF-8 text: {err}")
        except ConfigError as err:
            return self._refuse(str(err))
        if self._on_table is not None:
            self._on_table(table)
        self.current = Snapshot(table, Router(table), datetime.now(UTC), self.path)
        self.last_error = None
        log.info(
            "routes: loaded %s (digest %s, %d routes)", self.path, digest[:12], len(table.routes)
        )
        return True

    def _refuse(self, error: str) -> bool:
        if error != self.last_error:
            one_line = " | ".join(error.splitlines())
            log.error(
                "routes: refused %s; still serving digest %s", one_line, self.current.digest[:12]
            )
        self.last_error = error
        return False

    async def run(self) -> None:
        """Poll until cancelled."""
        loop = asyncio.get_running_loop()
        last_forced = loop.time()
        while True:
            await asyncio.sleep(self.interval_s)
            force = loop.time() - last_forced >= _FORCED_CHECK_S
            if force:
                last_forced = loop.time()
            try:
                self.check_now(force=force)
            except Exception:  # the watcher must outlive any surprise
                log.exception("routes: reload check failed")
