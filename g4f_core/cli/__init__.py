"""The `g4f-core` command."""

from g4f_core.cli.app import main

__all__ = ["main"]
