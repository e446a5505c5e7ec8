"""``python -m g4f_core``: the same as the ``g4f-core`` command."""

from g4f_core.cli import main

raise SystemExit(main())
