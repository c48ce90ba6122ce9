"""A hostile Hugging Face endpoint against ``ptmhub sync hf``: next-page links that loop, are
malformed or lead elsewhere, and pages far larger than asked for. Each stops the sync with one
line; pages already stored stay, nothing of the bad page is stored, and the saved resume cursor
is always one that passed every check (never a malformed, foreign or looping one)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import tracemalloc

import pytest
from hf_server import Reply, hf_hub  # noqa: F401  (fixture)

from ptmhub import settings
from ptmhub.errors import LimitExceededError, MalformedResponseError
from ptmhub.hubs.huggingface import sync

LIST_PAGE = ("fixtures", "hf", "list_models_page__burncloud_TODO_2items.json")
FIRST = r"/api/models\?(?!.*cursor=)"  # the first page: the only request without a cursor


def _env(monkeypatch, **values):
    for key, value in values.items():
        monkeypatch.setenv(key, str(value))
    settings.reload()


def _listing(shared, n: int) -> list[dict]:
    """n items shaped like the recorded real list items."""
    base = json.loads(shared(*LIST_PAGE).read_text())[1]
    items = []
    for i in range(n):
        item = copy.deepcopy(base)
        item.update(id=f"org/model-{i:03d}", modelId=f"org/model-{i:03d}", _id=f"{i:024x}", downloads=1000 - i)
        items.append(item)
    return items


def _page(items: list[dict], link: str | None = None) -> Reply:
    return Reply(200, headers={"Link": link} if link else {}, body=items)


def _one_line(err: BaseException) -> str:
    text = str(err)
    assert "\n" not in text and "Traceback" not in text
    return text


def _list_requests(hub) -> list:
    return hub.requests_to("/api/models$")


# -- cursors that repeat --------------------------------------------------------------------------------
def test_a_next_link_to_the_same_page_stops_the_sync(hf_hub, shared, sqlite_store):
    items = _listing(shared, 4)
    again = f"<{hf_hub.url}/api/models?cursor=A>; rel=\"next\""
    hf_hub.script("GET", FIRST, _page(items[:2], again))
    hf_hub.script("GET", r"cursor=A", *[_page(items[2:], again)] * 20)
    with pytest.raises(MalformedResponseError, match="paging loops") as err:
        sync(sqlite_store, page_size=2)
    _one_line(err.value)
    assert len(_list_requests(hf_hub)) == 2  # the first page, then page A once: never A again
    assert sqlite_store.count(platform="huggingface") == 2  # page 1 stays; the looping page is not stored
    assert sqlite_store.sync_state("hf")["next_url"].endswith("cursor=A")  # the last cursor that passed


def test_cursors_that_alternate_stop_the_sync(hf_hub, shared, sqlite_store):
    items = _listing(shared, 6)
    link = "<{}/api/models?cursor={}>; rel=\"next\""
    hf_hub.script("GET", FIRST, _page(items[:2], link.format(hf_hub.url, "A")))
    hf_hub.script("GET", r"cursor=A", *[_page(items[2:4], link.format(hf_hub.url, "B"))] * 20)
    hf_hub.script("GET", r"cursor=B", *[_page(items[4:], link.format(hf_hub.url, "A"))] * 20)
    with pytest.raises(MalformedResponseError, match="paging loops"):
        sync(sqlite_store, page_size=2)
    assert [r[2].get("cursor") for r in _list_requests(hf_hub)] == [None, ["A"], ["B"]]
    assert sqlite_store.count(platform="huggingface") == 4
    state = sqlite_store.sync_state("hf")
    assert not state["done"] and state["next_url"].endswith("cursor=B") and state["count"] == 4


def test_a_fragment_does_not_make_a_repeated_cursor_new(hf_hub, shared, sqlite_store):
    items = _listing(shared, 4)
    hf_hub.script("GET", FIRST, _page(items[:2], f"<{hf_hub.url}/api/models?cursor=A#1>; rel=next"))
    hf_hub.script("GET", r"cursor=A", *[_page(items[2:], f"<{hf_hub.url}/api/models?cursor=A#2>; rel=next")] * 20)
    with pytest.raises(MalformedResponseError, match="paging loops"):
        sync(sqlite_store, page_size=2)
    assert len(_list_requests(hf_hub)) == 2


# -- malformed next links ----------------------------------------------------------------------------------
MALFORMED_LINKS = [
    '<http://[::1>; rel="next"',
    '<http://[::1]:99999/api/models?cursor=A>; rel="next"',
    '<http://127.0.0.1:port/api/models>; rel="next"',
    '<http://127.0.0.1:-1/api/models>; rel="next"',
    '<http://[not-an-ip]/api/models>; rel="next"',
    '<ftp://127.0.0.1/api/models>; rel="next"',
    '<javascript:alert(1)>; rel="next"',
    '<http:///api/models>; rel="next"',
    '<//:0/x>; rel="next"',
    '{url}/api/models?cursor=A; rel="next"',
    '<{url}/api/models?cursor=A; rel="next"',
    '<{url}/api/models?cursor=A>; rel="next',
    '<{url}/api/models?cursor=A>; ="next"',
    '<{url}/api/models?cursor=A> rel="next"',
    '<{url}/api/models?cursor=A>; rel=',
    '<{url}/api/models?cursor=A>; rel="next", <{url}/api/models?cursor=B>; rel="next"',
    '<{url}/api/models?cursor=A\tB>; rel="next"',
    '<{url}/' + "x" * 20_000 + '>; rel="next"',
]


@pytest.mark.parametrize("link", MALFORMED_LINKS, ids=range(len(MALFORMED_LINKS)))
def test_a_malformed_next_link_is_one_line_and_stores_nothing_of_its_page(hf_hub, shared, sqlite_store, link):
    items = _listing(shared, 4)
    hf_hub.script("GET", FIRST, _page(items[:2], f"<{hf_hub.url}/api/models?cursor=ok>; rel=next"))
    hf_hub.script("GET", r"cursor=ok", _page(items[2:], link.format(url=hf_hub.url)))
    with pytest.raises(MalformedResponseError) as err:
        sync(sqlite_store, page_size=2)
    _one_line(err.value)
    assert len(_list_requests(hf_hub)) == 2
    assert sqlite_store.count(platform="huggingface") == 2  # page 1 kept, the bad page not stored
    state = sqlite_store.sync_state("hf")
    assert not state["done"] and state["next_url"] == f"{hf_hub.url}/api/models?cursor=ok"
    assert hf_hub.errors == []


def test_the_cli_prints_one_line_for_a_malformed_link(hf_hub, shared, tmp_path):
    hf_hub.script("GET", FIRST, _page(_listing(shared, 1), '<http://[::1>; rel="next"'))
    env = {**os.environ, "HF_ENDPOINT": hf_hub.url, "PTMHUB_HOME": str(tmp_path / "home"),
           "HF_HOME": str(tmp_path / "hf")}
    proc = subprocess.run([sys.executable, "-m", "ptmhub", "sync", "hf"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == MalformedResponseError.exit_code
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "malformed Link header" in lines[0], proc.stderr


def test_well_formed_link_variants_still_page(hf_hub, shared, sqlite_store):
    items = _listing(shared, 6)
    hf_hub.script("GET", FIRST, _page(items[:2], '</api/models?cursor=A>; REL="prev next"; title="a, b; c"'))
    hf_hub.script("GET", r"cursor=A", _page(items[2:4], f'<{hf_hub.url}/x>; rel=prev,  <?cursor=B> ;rel=next'))
    hf_hub.script("GET", r"cursor=B", _page(items[4:], f'<{hf_hub.url}/x>; rel="prev"'))
    report = sync(sqlite_store, page_size=2)
    assert report.records == 6 and report.counts["pages"] == 3
    assert sqlite_store.sync_state("hf")["done"] is True


# -- pages far larger than asked for ----------------------------------------------------------------------
def test_a_page_over_the_byte_limit_is_refused_before_it_is_read(hf_hub, shared, sqlite_store, monkeypatch):
    _env(monkeypatch, PTMHUB_MAX_PAGE_BYTES=100_000)
    items = _listing(shared, 2)
    hf_hub.script("GET", FIRST, _page(items, f"<{hf_hub.url}/api/models?cursor=big>; rel=next"))
    hf_hub.script("GET", r"cursor=big", Reply(200, body=b"[" + b'{"id": "org/x"},' * 20_000 + b'{"id": "org/y"}]'))
    with pytest.raises(LimitExceededError) as err:
        sync(sqlite_store, page_size=2)
    assert "PTMHUB_MAX_PAGE_BYTES" in _one_line(err.value) and "100,000" in str(err.value)
    assert sqlite_store.count(platform="huggingface") == 2
    assert sqlite_store.sync_state("hf")["next_url"].endswith("cursor=big")


def test_a_page_over_the_item_limit_is_refused(hf_hub, shared, sqlite_store, monkeypatch):
    _env(monkeypatch, PTMHUB_MAX_PAGE_ITEMS=50)
    hf_hub.script("GET", FIRST, _page([{"id": f"org/m{i}"} for i in range(51)]))
    with pytest.raises(LimitExceededError) as err:
        sync(sqlite_store, page_size=100)
    assert "PTMHUB_MAX_PAGE_ITEMS" in _one_line(err.value) and "50" in str(err.value)
    assert sqlite_store.count(platform="huggingface") == 0 and sqlite_store.sync_state("hf") is None


def test_a_page_at_the_item_limits_is_accepted(hf_hub, sqlite_store, monkeypatch):
    _env(monkeypatch, PTMHUB_MAX_PAGE_ITEMS=50)
    hf_hub.script("GET", FIRST, _page([{"id": f"org/m{i}"} for i in range(50)]))
    assert sync(sqlite_store, page_size=100).records == 50
    _env(monkeypatch, PTMHUB_MAX_PAGE_ITEMS=10_000)
    hf_hub.script("GET", FIRST, _page([{"id": f"org/n{i}"} for i in range(2 * 10 + 100)]))
    assert sync(sqlite_store, page_size=10, restart=True).records == 120  # 2 x page size + 100: still sane


def test_a_page_far_beyond_the_page_size_is_refused_without_parsing_it_all(hf_hub, sqlite_store):
    n = 200_000  # 6.6 MB, under PTMHUB_MAX_PAGE_BYTES: only the count against the page size stops it
    body = ("[" + ",".join('{"id":"org/m%07d","likes":1}' % i for i in range(n)) + "]").encode()
    hf_hub.script("GET", FIRST, Reply(200, body=body))
    tracemalloc.start()
    try:
        with pytest.raises(MalformedResponseError) as err:
            sync(sqlite_store, page_size=10)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "more than 120 items though 10 were asked for" in _one_line(err.value)
    assert sqlite_store.count(platform="huggingface") == 0
    # body bytes + its text + 120 items: the other 199,880 items never became Python objects
    # (parsing all of them takes over 60 MB)
    assert peak < 4 * len(body), f"peak {peak:,} bytes for a {len(body):,}-byte page"


@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000, b"[1, 2,]", b"[1] [2]", b"\xff\xfe[", b"",
                                  b'{"error": "nope"}', b"[{}", b"nope"])
def test_malformed_page_bodies(hf_hub, sqlite_store, body):
    hf_hub.script("GET", FIRST, Reply(200, body=body))
    with pytest.raises(MalformedResponseError) as err:
        sync(sqlite_store)
    _one_line(err.value)
    assert sqlite_store.count(platform="huggingface") == 0


def test_items_of_the_wrong_shape_are_problems_not_a_failed_sync(hf_hub, sqlite_store):
    hf_hub.script("GET", FIRST, _page([1, "x", None, [], {"id": "org/fine"}, {"no": "id"}]))
    report = sync(sqlite_store, page_size=10)
    assert report.records == 1 and report.skipped == 5
