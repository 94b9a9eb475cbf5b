"""Action profiles and selectors: entries of indirect tables refer to a member (an
action with its data) or to a group of members, one picked per packet by a hash of
the selector's fields."""

from __future__ import annotations

from dataclasses import dataclass, field

from .hashes import Calculation
from .program import Phv


@dataclass
class ActionProfile:
    name: str
    max_size: int
    selector: Calculation | None
    members: dict[int, tuple[int, list[int]]] = field(default_factory=dict)  # id -> (action id, data)
    groups: dict[int, list[int]] = field(default_factory=dict)  # id -> member ids (repeated by weight)

    def resolve(self, member: int | None, group: int | None, phv: Phv) -> tuple[int, list[int]] | None:
        if member is not None:
            return self.members.get(member)
        members = self.groups.get(group or 0, [])
        if not members:
            return None  # an empty group: the packet misses (BMv2 runs no action)
        pick = members[self.selector.compute(phv) % len(members)] if self.selector else members[0]
        return self.members.get(pick)
