"""P4Runtime 1.4 server for srem's reference switch (the p4runtime protos, over gRPC)."""
