"""Alice's SEA user space as npm gun wrote it (``sea_user_graph.json``): the graph, her pair,
and the souls the SEA tests read, shared by the tests that check it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["ALICE", "FIXTURE", "GRAPH", "PROFILE", "PUB", "SPACE"]

FIXTURE = json.loads((Path(__file__).parent / "sea_user_graph.json").read_text())
GRAPH: dict[str, dict[str, Any]] = FIXTURE["graph"]
ALICE = FIXTURE["pair"]
PUB = ALICE["pub"]
SPACE = "~" + PUB
PROFILE = SPACE + "/profile"
