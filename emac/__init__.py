"""External memory for the fabric: the memory server (a RoCEv2 responder, `memserver`),
the EM layout (`layout`), the EMAC API the controller calls (`api`), RoCEv2 frames
(`roce`) and the P4Runtime client they use (`p4rt`). See ../p4src/README.md."""
