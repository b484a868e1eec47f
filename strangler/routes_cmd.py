"""`strangler routes` (placeholder until its owner fills it in)."""

import typer

app = typer.Typer(help="routes commands", no_args_is_help=True)
