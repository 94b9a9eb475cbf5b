"""External-memory access controller (EMAC): EM layout, RDMA memory regions, RDMA-table
consistency. Built with the data plane (see ../shared/design/dataplane.md); empty until then."""
