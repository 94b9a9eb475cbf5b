"""srem's reference P4 target: a P4_16 (v1model) compiler to BMv2 JSON and P4Info,
a v1model switch, and its P4Runtime server. Used when p4c / BMv2 are not on PATH."""
