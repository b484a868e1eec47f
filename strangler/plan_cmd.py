"""`strangler plan` (placeholder until its owner fills it in)."""

import typer

app = typer.Typer(help="plan commands", no_args_is_help=True)
