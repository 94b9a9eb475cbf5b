"""The placement compiler: a day's chains, NF instances and placement as fabric.p4 entries, the underlay routes, and the flows that carry each chain."""
