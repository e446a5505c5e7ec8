"""``python -m g4f_core``: the same as the ``g4f-core`` command."""

from .cli import main

raise SystemExit(main())
