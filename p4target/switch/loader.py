"""Load BMv2 JSON into an executable program (`load`): headers, parser, actions, tables and
pipelines, with every expression compiled to a Python closure once, at load time.

Accepts what p4c-bm2-ss writes as well as srem's own compiler (2- or 3-tuple fields,
default transitions with or without "type", hexstr masks or null). A JSON that
references something it does not define is a JsonError naming the item.
"""

from __future__ import annotations

import json

from ..compiler.loader_rules import check
from .engine import Switch
from .program import JsonError


def load(source: str | bytes | dict) -> Switch:
    """Parse and validate BMv2 JSON; returns the loaded, executable `Switch` (see engine)."""
    if isinstance(source, str | bytes):
        try:
            raw = json.loads(source)
        except json.JSONDecodeError as e:
            raise JsonError(f"not JSON: {e}") from None
    else:
        raw = source
    if not isinstance(raw, dict) or ("__meta__" not in raw and "header_types" not in raw):
        raise JsonError("not a BMv2 JSON program (no header_types)")
    version = raw.get("__meta__", {}).get("version", [2, 0])
    if version[0] != 2:
        raise JsonError(f"BMv2 JSON version {version} is not supported (major version 2)")
    try:
        sw = Switch(raw)
    except JsonError:
        # two objects with one id are the cause of whatever the loader then tripped on
        dup = next((p for p in check(raw, refused_only=True) if p.endswith("(duplicate ids)")), None)
        if dup is not None:
            raise JsonError(dup) from None
        raise
    except RecursionError:
        raise JsonError("BMv2 JSON nested too deeply") from None
    except (KeyError, TypeError, IndexError, ValueError, AttributeError) as e:
        # a member missing or of the wrong shape somewhere the loader does not check itself
        raise JsonError(f"malformed BMv2 JSON ({type(e).__name__}: {e})") from None
    # What real BMv2's loader refuses (or aborts on) and the switch itself would take, srem
    # refuses too, naming the element.
    problems = check(raw, refused_only=True)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise JsonError(f"{problems[0]}{more}")
    return sw
