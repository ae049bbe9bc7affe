"""Helpers the sub-command modules share: documented parsers and matplotlib on demand."""

from __future__ import annotations

import argparse
from typing import Any

from twin.errors import InputError


def add_documented_parser(subparsers: Any, name: str, doc: str | None, **kw: Any) -> Any:
    """A sub-command parser whose ``--help`` shows ``doc`` (its module docstring) as written."""
    return subparsers.add_parser(
        name, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter, **kw
    )


def pyplot(field: str) -> Any:
    """``matplotlib.pyplot`` on the Agg backend; InputError naming ``field`` if missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError(
            "plotting needs matplotlib", field=field, allowed="pip install -e '.[plots]'"
        ) from None
    return plt
