"""`strangler sync` (placeholder until its owner fills it in)."""

import typer

app = typer.Typer(help="sync commands", no_args_is_help=True)
