"""P4Runtime errors as srem reports them: the call, the gRPC code, and each failed update."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.rpc import code_pb2, status_pb2
from p4.v1 import p4runtime_pb2 as R


class P4RuntimeError(Exception):
    """A P4Runtime call the switch refused; `code` is the gRPC status code."""

    def __init__(self, what: str, code: grpc.StatusCode | None, message: str) -> None:
        super().__init__(f"{what}: {code.name if code else 'error'}: {message}")
        self.code = code


@dataclass(frozen=True)
class UpdateError:
    index: int
    code: int
    message: str

    def __str__(self) -> str:
        return f"update {self.index}: {code_pb2.Code.Name(self.code)}: {self.message}"


class WriteError(P4RuntimeError):
    """A Write with at least one failed update; `errors` lists those (index in the batch)."""

    def __init__(self, code: grpc.StatusCode, message: str, errors: list[UpdateError]) -> None:
        shown = "; ".join(str(e) for e in errors[:3]) or message
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        super().__init__("Write", code, shown + more)
        self.errors = errors


def _update_errors(e: grpc.RpcError) -> list[UpdateError]:
    """The per-update `p4.v1.Error` details in a failed Write's status trailer."""
    for key, value in e.trailing_metadata() or ():
        if key != "grpc-status-details-bin":
            continue
        st = status_pb2.Status.FromString(value)
        out = []
        for i, d in enumerate(st.details):
            err = R.Error()
            if d.Unpack(err) and err.canonical_code != code_pb2.OK:
                out.append(UpdateError(i, err.canonical_code, err.message))
        return out
    return []
