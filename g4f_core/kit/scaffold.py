"""``g4f-core new-provider``: write a complete, installable provider distribution.

The result installs with ``pip install -e DIR``, is listed by ``g4f-core providers`` and
passes ``pytest DIR`` at once: a provider module following the contract with a working
example, a stdlib emulator of its example protocol, tests running the conformance suite,
a README and a pyproject with the entry point. The templates are in templates.py.
"""

from __future__ import annotations

import keyword
import os
import re
import shutil
import tempfile
from pathlib import Path

import attrs

from g4f_core.context import env_name
from g4f_core.errors import InvalidRequestError
from g4f_core.kit.templates import FILES
from g4f_core.plugins.provider import _NAME

__all__ = ["Names", "new_provider"]

_MAX_NAME = 60


def _snake(name: str) -> str:
    """``AcmeChat`` -> ``acme_chat``, ``HTTPBot`` -> ``http_bot``, ``bot.v2`` -> ``bot_v2``."""
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()


@attrs.frozen
class Names:
    """Every name derived from the provider's: module, distribution, class, env variable."""

    name: str
    module: str
    dist: str
    cls: str
    slug: str
    env: str

    @classmethod
    def from_name(cls, name: str) -> Names:
        """Check ``name`` and derive the rest; InvalidRequestError says what is wrong."""
        if not _NAME.fullmatch(name or ""):
            raise InvalidRequestError(
                f"provider name {name!r} must start with a letter and hold only letters, "
                "digits, '_', '.' or '-' (for example AcmeChat)"
            )
        if len(name) > _MAX_NAME:
            raise InvalidRequestError(f"provider name is longer than {_MAX_NAME} characters")
        snake = _snake(name)
        module = f"g4f_{snake}"
        if not module.isidentifier() or keyword.iskeyword(module):
            raise InvalidRequestError(
                f"provider name {name!r} gives the module name {module!r}, which is not a "
                "Python identifier; choose a name of letters and digits"
            )
        return cls(
            name=name,
            module=module,
            dist=f"g4f-{snake.replace('_', '-')}",
            cls="".join(part[:1].upper() + part[1:] for part in snake.split("_")),
            slug=snake.replace("_", "-"),
            env=env_name(name, "URL"),
        )

    def fill(self, template: str) -> str:
        for key, value in attrs.asdict(self).items():
            template = template.replace("{{" + key + "}}", value)
        return template


def new_provider(name: str, directory: str | os.PathLike[str] | None = None) -> list[Path]:
    """Write the distribution for provider ``name`` into ``directory``; return its files.

    ``directory`` defaults to ``./g4f-<name>``. It must not exist: nothing is ever
    overwritten, and the files appear all at once (written aside, then renamed).
    """
    names = Names.from_name(name)
    root = Path(directory) if directory is not None else Path.cwd() / names.dist
    root = root.absolute()
    if root.exists() or root.is_symlink():
        raise FileExistsError(f"{root} already exists; choose another --dir (nothing written)")
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        written = []
        for relative, template in FILES.items():
            path = staging / names.fill(relative)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(names.fill(template), encoding="utf-8")
            written.append(root / path.relative_to(staging))
        if root.exists():  # created meanwhile by someone else: still never overwrite
            raise FileExistsError(f"{root} already exists; choose another --dir")
        staging.rename(root)
        root.chmod(0o755)  # mkdtemp made it private
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(written)
