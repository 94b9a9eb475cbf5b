"""Substrate topologies: fat-tree builders, attribute drawing, YAML load/save."""

from topologies.attributes import SubstrateRanges, draw
from topologies.errors import InputError
from topologies.fattree import kary_fattree, paper_fattree
from topologies.io import from_dict, load, read_yaml, save, to_dict

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
