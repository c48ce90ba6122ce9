"""``ptmhub.load`` records the use (``last_used``) beside the load, in a thread: a successful load
has recorded it when it returns, a failed one leaves the previous value."""

from __future__ import annotations

import datetime as dt

import pytest

from ptmhub import api
from ptmhub.errors import NotCachedError
from ptmhub.records import ModelRecord

EARLIER = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)


def _registered(store, model_id: str, last_used: dt.datetime | None) -> None:
    store.upsert([ModelRecord(id=model_id, platform="huggingface", name=model_id.rsplit("/", 1)[1],
                              owner="test", library="transformers")])
    if last_used is not None:
        store.touch(model_id, at=last_used)


@pytest.mark.parametrize("previous", [None, EARLIER])
def test_a_failed_load_keeps_the_previous_last_used(previous):
    store = api.get_store()
    _registered(store, "hf:test/not-pulled", previous)
    with pytest.raises(NotCachedError):  # registered, never pulled: nothing in the HF cache
        api.load("hf:test/not-pulled")
    assert store.get("hf:test/not-pulled").last_used == previous


def test_a_load_records_the_use_before_it_returns(tmp_path):
    """A local: model (a folder registered with ptmhub add) loads; last_used is set on return."""
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(vocab_size=40, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=16, max_position_embeddings=16)
    folder = tmp_path / "tiny"
    transformers.BertModel(config).save_pretrained(folder)
    record = api.add(str(folder))
    assert record.last_used is None
    before = dt.datetime.now(dt.timezone.utc)
    loaded = api.load(record.id)
    assert type(loaded.model).__name__ == "BertModel"
    used = api.get_store().get(record.id).last_used
    assert used is not None and before <= used <= dt.datetime.now(dt.timezone.utc)
