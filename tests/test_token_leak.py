"""A run that uses a token never writes it anywhere: not in the registry, the caches, the
output (tables or --json), error messages or logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from hf_server import hf_hub  # noqa: F401  (fixture)

BERT = ("fixtures", "hf", "model_info__google-bert--bert-base-uncased.json")
LIST_PAGE = ("fixtures", "hf", "list_models_page__burncloud_TODO_2items.json")


def test_token_never_reaches_anything_ptmhub_writes(hf_hub, shared, tmp_path):
    hf_hub.add_recorded(shared(*BERT))
    hf_hub.rename("bert-base-uncased", "google-bert/bert-base-uncased")
    hf_hub.listing = json.loads(shared(*LIST_PAGE).read_text())
    token = hf_hub.token
    home = tmp_path / "home"
    env = {**os.environ, "HF_TOKEN": token, "HF_ENDPOINT": hf_hub.url, "PTMHUB_HOME": str(home),
           "HF_HOME": str(tmp_path / "hf"), "PTMHUB_MAX_WAIT": "1"}
    outputs = []
    for args in (["resolve", "hf:bert-base-uncased"], ["resolve", "hf:bert-base-uncased", "--json"],
                 ["show", "hf:bert-base-uncased", "--json"], ["sync", "hf", "--json"], ["search", "bert", "--json"],
                 ["search", "--csv"], ["resolve", "hf:nobody/missing"], ["pull", "hf:nobody/missing"], ["ls"]):
        proc = subprocess.run([sys.executable, "-m", "ptmhub", *args], env=env, capture_output=True, text=True,
                              timeout=120)
        outputs.append(proc.stdout + proc.stderr)
    assert json.loads(outputs[1])["parameters"] == 110_106_428  # the runs really worked
    assert "not found" in outputs[6]
    # the server did receive the token: it was used ...
    assert any(r[3].get("Authorization") == f"Bearer {token}" for r in hf_hub.requests)
    # ... and nothing ptmhub wrote contains it
    for text in outputs:
        assert token not in text
    written = [p for root in (home, tmp_path / "hf") if root.exists() for p in root.rglob("*") if p.is_file()]
    assert any(p.name.startswith("registry.db") for p in written)
    for path in written:
        assert token.encode() not in path.read_bytes(), path
