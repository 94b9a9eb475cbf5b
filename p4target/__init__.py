"""srem's reference P4 target: P4_16 (v1model) compiler, v1model switch, P4Runtime server, STF runner.

Used when p4c / BMv2 are not on PATH. Layers, lowest first: compiler (front end, then the
BMv2 JSON and P4Info back ends); switch (program model, then the execution code, engine
and loader); runtime (the P4Runtime server over a switch); stf and cli on top. It imports
nothing from srem's other packages.
"""
