"""The P4Runtime client, srem's ground floor: connection and arbitration (`client`), P4Info
names (`schema`), entities (`entities`), errors, and desired state with diff,
make-before-break apply and read-back (`state`). It imports no other srem package."""
