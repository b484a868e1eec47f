"""The aggregates the monolith reconciles, by name: each app registers its own
``SourceAggregate`` in its ``AppConfig.ready()``, and ``monolith.reconcile.apis`` reads them, so
this package never points back at the apps."""

from __future__ import annotations

from monolith.reconcile.source import SourceAggregate

_SOURCES: dict[str, SourceAggregate] = {}


def register_source(source: SourceAggregate) -> None:
    """Reconcile ``source`` under its spec's name (``/internal/reconcile/<name>/...``)."""
    _SOURCES[source.spec.name] = source


def source_named(name: str) -> SourceAggregate | None:
    return _SOURCES.get(name)
