"""A network namespace with veth pairs, made for one test and removed after it."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest


def sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


@contextlib.contextmanager
def veth_namespace(prefix: str, pairs: list[tuple[str, str]]) -> Iterator[str]:
    """A namespace named after `prefix` and this process, holding the veth `pairs`, up and
    without IPv6 chatter; skips the test where namespaces cannot be made."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 to create a network namespace")
    ns = f"{prefix}-{os.getpid()}"
    try:
        sh("ip", "netns", "add", ns)
    except subprocess.CalledProcessError as e:
        pytest.skip(f"cannot create a network namespace here: {e.stderr.decode().strip()}")
    try:
        sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
        for a, b in pairs:
            sh("ip", "netns", "exec", ns, "ip", "link", "add", a, "type", "veth", "peer", "name", b)
            for dev in (a, b):
                sh("ip", "netns", "exec", ns, "ip", "link", "set", dev, "up")
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def in_netns(ns: str, fn):
    """Run fn() in a thread that has entered a namespace (a name under /var/run/netns, or a
    path such as /proc/PID/ns/net); sockets it opens stay in that namespace."""
    import ctypes
    import threading

    out: dict = {}

    def run() -> None:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        fd = os.open(ns if ns.startswith("/") else f"/var/run/netns/{ns}", os.O_RDONLY)
        try:
            if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
                out["error"] = OSError(ctypes.get_errno(), "setns")
                return
            out["value"] = fn()
        except Exception as e:  # handed to the caller
            out["error"] = e
        finally:
            os.close(fd)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


def raw_pair(ns: str, tx: str, rx: str, timeout: float = 0.2):
    """Two raw packet sockets inside `ns`: one to send on interface `tx`, one to receive
    on `rx` (every protocol, `timeout` s per read)."""
    import socket

    def socks():
        a = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
        a.bind((tx, 0))
        b = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
        b.bind((rx, 0))
        b.settimeout(timeout)
        return a, b

    return in_netns(ns, socks)
