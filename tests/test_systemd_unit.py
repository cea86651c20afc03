"""The shipped systemd unit passes `systemd-analyze verify`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.syspkg import require_binary

UNIT = Path(__file__).resolve().parent.parent / "share" / "systemd" / "owncastd.service"


def test_unit_verifies(tmp_path: Path) -> None:
    analyze = require_binary("systemd-analyze", "systemd")
    text = UNIT.read_text()
    for needed in (
        "Type=notify",
        "WatchdogSec=",
        "DynamicUser=yes",
        "StateDirectory=owncastd",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "RestrictAddressFamilies=",
        "CapabilityBoundingSet=\n",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "/etc/owncastd/owncastd.toml",
    ):
        assert needed in text, needed
    # verify checks that ExecStart exists: point it at this environment's owncastd.
    exe = shutil.which("owncastd") or str(Path(sys.executable).parent / "owncastd")
    unit = tmp_path / "owncastd.service"
    unit.write_text(text.replace("/usr/local/bin/owncastd", exe))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
    problems = [line for line in result.stderr.splitlines() if "owncastd.service" in line]
    assert result.returncode == 0 and not problems, result.stderr
