"""What only our proxy does with a route, which no exported engine configuration renders
(proxy/export_nginx.py, proxy/export_envoy.py): each exporter's ``--check`` lists these for the
routes that ask for them, beside what its own engine cannot express."""

from __future__ import annotations

from proxy.config import Route


def proxy_only_findings(route: Route, engine: str) -> list[str]:
    """One line per feature of ``route`` that ``engine`` (as the line names it: "nginx",
    "Envoy config") is rendered without."""
    findings: list[str] = []
    name = route.name
    if route.mode == "shadow":
        findings.append(
            f"route {name}: shadow needs our proxy or a comparer (rendered as monolith: no "
            f"copy goes to {route.target})"
        )
    if route.read_your_writes is not None:
        findings.append(
            f"route {name}: read_your_writes keeps per-key state; {engine} has none (not rendered)"
        )
    if route.record is not None:
        findings.append(f"route {name}: record is our proxy's own sampling (not rendered)")
    return findings
