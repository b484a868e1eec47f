"""Entry point of the `strangler` console script: mounts each verb group's Typer app."""

from __future__ import annotations

import typer

from strangler import compare_cmd, plan_cmd, routes_cmd, sync_cmd, traffic_cmd, up_cmd

app = typer.Typer(
    name="strangler",
    help="Strangler Fig: move traffic from the monolith to extracted services, flag by flag.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(routes_cmd.app, name="routes")
app.add_typer(plan_cmd.app, name="plan")
app.add_typer(sync_cmd.app, name="sync")
app.command(name="compare")(compare_cmd.compare)
app.command(name="traffic")(traffic_cmd.traffic)
app.command(name="up")(up_cmd.up)

if __name__ == "__main__":
    app()
