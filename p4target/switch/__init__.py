"""srem's v1model switch: executes BMv2 JSON (from srem's compiler or p4c) as simple_switch does."""

from .loader import load
from .program import JsonError

__all__ = ["JsonError", "load"]
