"""Entry point of the `strangler` console script: names each verb and the module that holds it;
a verb's module is imported only when that verb runs (`strangler --help` imports them all, for
their help)."""

from __future__ import annotations

import typer

from strangler.lazy_commands import LazyGroup


class Verbs(LazyGroup):
    lazy_commands = {
        "compare": "strangler.compare_cmd:compare",
        "traffic": "strangler.traffic_cmd:traffic",
        "up": "strangler.up_cmd:up",
        "routes": "strangler.routes_cmd:app",
        "plan": "strangler.plan_cmd:app",
        "sync": "strangler.sync_cmd:app",
    }


app = typer.Typer(
    name="strangler",
    help="Strangler Fig: move traffic from the monolith to extracted services, flag by flag.",
    cls=Verbs,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main() -> None:
    # A group needs a callback or a registered command; the verbs are all in Verbs.
    pass


if __name__ == "__main__":
    app()
