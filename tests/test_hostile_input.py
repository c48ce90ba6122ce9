"""Hostile input, generated: only PtmhubError subclasses escape, each with a one-line message,
and the CLI never prints a traceback. Example counts are set so the whole file generates well
over 100,000 inputs (IDs, URLs, catalog docs, front matter, HF JSON bodies)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ptmhub.errors import PtmhubError
from ptmhub.ids import PREFIXES, parse



def cases(n: int) -> settings:
    return settings(max_examples=n, deadline=None, suppress_health_check=list(HealthCheck), database=None)


# 40k + 20k + 15k + 12k + 8k + 5k = 100,000 generated inputs, plus 300 + 300 CLI runs
pytestmark = pytest.mark.slow

SEGMENT_CHARS = list("abcXYZ019._-/:@#\\ %?&=~\x00\n\t\u00e9\u202e")
segment = st.lists(st.sampled_from([*SEGMENT_CHARS, "..", "//", "://", "bert", "v2"]), max_size=15).map("".join)
prefix = st.sampled_from([*(f"{p}:" for p in PREFIXES), "", "HF:", "torchhub:", "x:", "https://", "file://"])
hosts = st.sampled_from(["huggingface.co", "hf.co", "tfhub.dev", "www.kaggle.com", "example.com", "", "127.0.0.1"])


def _check(raw):
    try:
        mid = parse(raw)
    except PtmhubError as exc:
        message = str(exc)
        assert message and "\n" not in message and len(message) < 1000
        return
    # anything accepted round-trips and can never name a path outside a cache
    assert parse(str(mid)) == mid
    assert ".." not in mid.path.split("/") and not mid.path.startswith("/") and "\\" not in mid.path


@cases(40_000)
@given(st.text(max_size=600))
def test_any_text(raw):
    _check(raw)


@cases(20_000)
@given(prefix, st.lists(segment, max_size=7))
def test_structured_ids(pre, parts):
    _check(pre + "/".join(parts))


@cases(15_000)
@given(st.sampled_from(["https", "http", "ftp"]), hosts, st.lists(segment, max_size=9), st.text(max_size=30))
def test_urls(scheme, host, parts, query):
    _check(f"{scheme}://{host}/{'/'.join(parts)}?{query}")


@cases(12_000)
@given(st.text(max_size=200), st.lists(st.tuples(st.text(max_size=30), st.text(max_size=60)), max_size=8),
       st.text(max_size=500))
def test_tfhub_docs(first, meta, body):
    from ptmhub.catalogs.tfhub import parse_doc

    text = first + "\n" + "\n".join(f"<!-- {k}: {v} -->" for k, v in meta) + "\n" + body
    try:
        parse_doc(text, path="generated.md")
    except PtmhubError as exc:
        assert "\n" not in str(exc)


@cases(8_000)
@given(st.dictionaries(st.text(max_size=20), st.one_of(st.text(max_size=50), st.integers(), st.none(),
                                                        st.lists(st.text(max_size=20), max_size=4)), max_size=8),
       st.text(max_size=400))
def test_pytorch_hub_front_matter(front, body):
    import yaml

    from ptmhub.catalogs.pytorch_hub import parse_doc

    try:
        text = "---\n" + yaml.safe_dump(front) + "---\n" + body
    except yaml.YAMLError:
        return
    try:
        parse_doc(text, path="generated.md")
    except PtmhubError as exc:
        assert "\n" not in str(exc)


json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                                     st.text(max_size=30)),
                           lambda children: st.one_of(st.lists(children, max_size=4),
                                                      st.dictionaries(st.text(max_size=12), children, max_size=5)),
                           max_leaves=20)
hf_keys = st.sampled_from(["id", "modelId", "pipeline_tag", "library_name", "tags", "downloads", "likes", "sha",
                           "lastModified", "gated", "cardData", "safetensors", "siblings", "config", "author",
                           "private", "createdAt", "usedStorage"])


@cases(5_000)
@given(st.dictionaries(hf_keys, json_values, max_size=12), st.sampled_from(["google-bert/bert-base-uncased", "gpt2"]))
def test_hf_json_bodies(body, repo):
    from ptmhub.hubs.huggingface import record_from_info

    body.setdefault("id", repo)
    try:
        record_from_info(json.loads(json.dumps(body)))
    except PtmhubError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(prefix, st.lists(segment, max_size=5))
def test_cli_never_prints_a_traceback(tmp_path_factory, pre, parts):
    import contextlib
    import io

    from ptmhub.cli import main

    db = tmp_path_factory.getbasetemp() / "hostile.db"
    raw = pre + "/".join(parts)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()), pytest.raises(SystemExit) as info:
        main(["--db", str(db), "--offline", "show", raw])
    text = err.getvalue()
    assert "Traceback" not in text
    if info.value.code != 0:
        assert text.startswith("error: ") and text.count("\n") == 1, text


NUMBER_CHARS = list("0123456789.,_-+eEkKmMbBtTxn ai\u0663\u00b2")
number_text = st.one_of(st.lists(st.sampled_from(NUMBER_CHARS), min_size=1, max_size=30).map("".join),
                        st.integers(min_value=-(2**70), max_value=2**70).map(str),
                        st.floats(allow_nan=True, allow_infinity=True).map(repr), st.text(max_size=20))


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(st.sampled_from(["--min-params", "--max-params", "--limit", "--offset"]), number_text)
def test_cli_numeric_options_never_print_a_traceback(tmp_path_factory, option, value):
    """Any text as a count, limit or offset: an answer (exit 0) or one usage line (exit 2)."""
    import contextlib
    import io

    from ptmhub.cli import main

    db = tmp_path_factory.getbasetemp() / "hostile-numbers.db"
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()), pytest.raises(SystemExit) as info:
        main(["--db", str(db), "search", option, value, "--json"])
    text = err.getvalue()
    assert "Traceback" not in text
    assert info.value.code in (0, 2), text
    if info.value.code == 2:
        assert text.startswith("error: ") and text.count("\n") == 1, text
