"""A Typer group whose commands are imported when they run: a verb's module (and what it imports:
the proxy's config, Celery, the plan walker, ...) loads only for that verb, so `strangler routes
list` does not pay for `strangler compare`. Typer has no lazy groups of its own; this is Click's
documented recipe (a group that resolves ``"module:attribute"`` in ``get_command``) on Typer's
group class, with each target turned into a command by Typer's public ``get_group``."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, ClassVar

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    # Typer's Click types, for annotations only: nothing here imports Typer's private modules.
    from typer._click import Command, Context


def load_command(name: str, target: str) -> Command:
    """The command ``name`` from ``target``, ``"module:attribute"``: a Typer app becomes a group
    (its help is the app's), a function a command (its help is its docstring)."""
    module_name, _, attribute = target.partition(":")
    found = getattr(importlib.import_module(module_name), attribute)
    holder = typer.Typer(add_completion=False)
    if isinstance(found, typer.Typer):
        holder.add_typer(found, name=name)
    else:
        holder.command(name=name)(found)
    return typer.main.get_group(holder).commands[name]


class LazyGroup(TyperGroup):
    """Set ``lazy_commands`` (name → ``"module:attribute"``, in the order help lists them) on a
    subclass and pass it as ``typer.Typer(cls=...)``."""

    lazy_commands: ClassVar[dict[str, str]] = {}

    def list_commands(self, ctx: Context) -> list[str]:
        eager = super().list_commands(ctx)
        return [*eager, *(name for name in self.lazy_commands if name not in eager)]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            self.commands[cmd_name] = load_command(cmd_name, self.lazy_commands[cmd_name])
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: Context, args: list[str]
    ) -> tuple[str | None, Command | None, list[str]]:
        # An unknown name: Typer's "Did you mean ...?" looks among the loaded commands, so all load.
        if args and args[0] not in self.commands and args[0] not in self.lazy_commands:
            for name in self.lazy_commands:
                self.get_command(ctx, name)
        return super().resolve_command(ctx, args)
