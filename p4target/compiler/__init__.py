"""P4_16 front end (preprocessor, lexer, parser) and back ends (BMv2 JSON, P4Info)."""

from .errors import P4Error
from .parser import parse_file, parse_text

__all__ = ["P4Error", "parse_file", "parse_text"]
