"""BMv2 JSON back end: an elaborated v1model program to simple_switch's JSON, split by what it emits."""

from .model import _range_to_masks
from .program import VERSION, Builder, compile_program, dumps

__all__ = ["VERSION", "Builder", "_range_to_masks", "compile_program", "dumps"]
