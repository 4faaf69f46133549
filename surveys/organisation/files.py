"""Reading an organisation file from disk, choosing the parser by its extension."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from surveys.organisation.csv_file import spec_from_csv
from surveys.organisation.spec import OrgError, OrgSpec
from surveys.organisation.yaml_file import spec_from_yaml

_PARSERS: dict[str, Callable[[str], OrgSpec]] = {
    ".yaml": spec_from_yaml,
    ".yml": spec_from_yaml,
    ".csv": spec_from_csv,
}


def load_file(path: Path) -> OrgSpec:
    """Read an organisation file by its extension (.yaml, .yml or .csv)."""
    parser = _PARSERS.get(path.suffix.lower())
    if parser is None:
        shown = path.suffix or "no extension"
        raise OrgError([f"{path}: unknown file type ({shown}); use .yaml, .yml or .csv"])
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise OrgError([f"{path}: no such file"]) from None
    except UnicodeDecodeError:
        raise OrgError([f"{path}: not UTF-8 text"]) from None
    except OSError as exc:
        raise OrgError([f"{path}: cannot be read ({exc.strerror or exc})"]) from None
    return parser(text)
