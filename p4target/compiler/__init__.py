"""P4_16 compiler: front end (preprocessor, lexer, parser, semantic checks), back ends (bmv2/, P4Info)."""

from .errors import P4Error
from .parser import parse_file, parse_text

__all__ = ["P4Error", "parse_file", "parse_text"]
