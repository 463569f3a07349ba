"""A throw-away PostgreSQL cluster for tests: initdb in a temp dir, a free port, trust auth.

PostgreSQL refuses to run as root, so under root the cluster belongs to the ``postgres``
system user (or ``nobody``) and every server command runs as that user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


class ClusterUnavailable(RuntimeError):
    """PostgreSQL is not installed here, or would not start."""


def find_bin_dir() -> Path | None:
    """The directory with ``initdb`` and ``pg_ctl``: Debian's newest, else the PATH's."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: _version(Path(p).parent.name))
    for found in reversed(candidates):
        if (Path(found) / "initdb").exists() and (Path(found) / "pg_ctl").exists():
            return Path(found)
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(os.path.realpath(initdb)).parent
    return None


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(p) for p in name.split(".") if p.isdigit())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_user() -> tuple[pwd.struct_passwd | None, Callable[[], None] | None]:
    """Who runs the server: ourselves, or (under root) an unprivileged system user."""
    if os.geteuid() != 0:
        return None, None
    for name in ("postgres", "nobody"):
        try:
            user = pwd.getpwnam(name)
        except KeyError:
            continue

        def drop(user: pwd.struct_passwd = user) -> None:
            os.setgid(user.pw_gid)
            os.setgroups([])
            os.setuid(user.pw_uid)

        return user, drop
    raise ClusterUnavailable("running as root and neither a postgres nor a nobody user exists")


@dataclass
class Cluster:
    bin_dir: Path
    root: Path
    port: int
    user: str = "railguard"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        _, drop = _as_user()
        return subprocess.run(
            [str(self.bin_dir / "pg_ctl"), "-D", str(self.data), *args],
            preexec_fn=drop,  # before any test thread starts (preexec_fn is unsafe with threads)
            capture_output=True,
            text=True,
            timeout=60,
            check=check,
        )

    def start(self) -> None:
        opts = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off -c max_connections=200"
        done = self.pg_ctl("-o", opts, "-l", str(self.root / "log"), "-w", "-t", "30", "start", check=False)
        if done.returncode != 0:
            log = (self.root / "log").read_text(errors="replace") if (self.root / "log").exists() else ""
            raise ClusterUnavailable(f"pg_ctl start failed: {done.stderr.strip()} {log[-2000:]}")

    def stop(self, mode: str = "fast") -> None:
        self.pg_ctl("-m", mode, "-w", "stop", check=False)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def create_cluster() -> Cluster:
    """initdb and start a cluster on a free port; raises ``ClusterUnavailable`` when it cannot."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise ClusterUnavailable("PostgreSQL is not installed (no initdb/pg_ctl); run scripts/setup-postgres.sh")
    user, drop = _as_user()
    # Not under pytest's tmp_path: that is private to root, and the server user must reach it.
    root = Path(tempfile.mkdtemp(prefix="railguard-pg-"))
    if user is not None:
        os.chown(root, user.pw_uid, user.pw_gid)
    init = subprocess.run(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(root / "data"),
            "-U",
            "railguard",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ],
        preexec_fn=drop,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise ClusterUnavailable(f"initdb failed: {init.stderr.strip()}")
    for _ in range(3):  # another process may take the free port between the probe and the start
        cluster = Cluster(bin_dir, root, _free_port())
        try:
            cluster.start()
            return cluster
        except ClusterUnavailable as exc:
            last = exc
            time.sleep(0.2)
    shutil.rmtree(root, ignore_errors=True)
    raise last
