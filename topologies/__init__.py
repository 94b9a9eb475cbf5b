"""Substrate topologies: fat-tree builders, attribute drawing, YAML load/save."""

from .attributes import SubstrateRanges, draw
from .errors import InputError
from .fattree import kary_fattree, paper_fattree
from .io import from_dict, load, read_yaml, save, to_dict

__all__ = [
    "InputError",
    "SubstrateRanges",
    "draw",
    "from_dict",
    "kary_fattree",
    "load",
    "paper_fattree",
    "read_yaml",
    "save",
    "to_dict",
]
