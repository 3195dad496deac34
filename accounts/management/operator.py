"""The shape every operator command shares: sub-commands, and one-line errors.

Scripts call these, so a mistake must read as one line on stderr with a non-zero exit, never as
a usage dump or a traceback, and must change nothing (each sub-command calls one service, which
validates before it writes).
"""

import sys
from typing import Any, NoReturn

from django.core.management.base import BaseCommand, CommandError, CommandParser

from common.errors import ApiError


class OneLineErrorParser(CommandParser):
    def error(self, message: str) -> NoReturn:
        if self.called_from_command_line:
            self.exit(2, f"{self.prog}: error: {message}\n")
        raise CommandError(f"Error: {message}")


class OperatorCommand(BaseCommand):
    # Scripts call these often; `manage.py check` is the place for the project's checks.
    requires_system_checks: list[str] = []

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.__class__ = OneLineErrorParser  # Django builds a plain CommandParser
        return parser

    @staticmethod
    def add_actions(parser: CommandParser, names: list[str]) -> Any:
        """The sub-commands (`user create`, `user tier`), with one-line errors as well."""
        return parser.add_subparsers(
            dest="action",
            required=True,
            metavar="{" + ",".join(names) + "}",
            parser_class=OneLineErrorParser,
        )

    def execute(self, *args: Any, **options: Any) -> Any:
        try:
            return super().execute(*args, **options)
        except ApiError as error:  # a service said no: its message is the one line
            raise CommandError(error.message) from None


def read_secret_argument(value: str | None) -> str | None:
    """`-` reads the value from stdin, so a password need not appear in the process list."""
    if value == "-":
        return sys.stdin.readline().rstrip("\n")
    return value
