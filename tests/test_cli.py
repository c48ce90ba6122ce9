"""The CLI: every command through click's runner, errors as one line with no traceback."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from ptmhub.cli import cli, main
from ptmhub.records import ModelRecord
from ptmhub.registry import open_store


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "reg.db"
    store = open_store(f"sqlite:///{path}")
    store.upsert([
        ModelRecord(id="hf:google-bert/bert-base-uncased", platform="huggingface", name="bert-base-uncased",
                    owner="google-bert", task="fill-mask", parameters=110_106_428, parameters_source="api",
                    license="apache-2.0", library="transformers", downloads=72_376_843, tags=("bert",),
                    aliases=("hf:bert-base-uncased",)),
        ModelRecord(id="torchhub:pytorch/vision/resnet50", platform="torchhub", name="resnet50", owner="pytorch",
                    task="image-classification", parameters=25_557_032, parameters_source="catalog",
                    library="torchvision", framework="pytorch"),
        ModelRecord(id="tfhub:google/nnlm-en-dim128/2", platform="tfhub", name="nnlm-en-dim128/2", owner="google",
                    task="text-embedding", format="saved_model_2", fine_tunable=True, license="apache-2.0"),
    ])
    return str(path)


def run(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    out, err = capsys.readouterr()
    return info.value.code, out, err


def test_help_and_version(capsys):
    code, out, _ = run(["--help"], capsys)
    assert code == 0 and "search" in out and "resolve" in out
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out.startswith("ptmhub ")


def test_search_table_and_json(db, capsys):
    code, out, _ = run(["--db", db, "search", "bert"], capsys)
    assert code == 0 and "hf:google-bert/bert-base-uncased" in out and "110M" in out
    code, out, _ = run(["--db", db, "search", "bert", "--json"], capsys)
    data = json.loads(out)
    assert isinstance(data, list) and data[0]["parameters"] == 110_106_428
    assert set(ModelRecord.__dataclass_fields__) <= set(data[0])
    code, out, _ = run(["--db", db, "search", "--task", "image-classification", "--max-params", "30M", "--json"], capsys)
    assert [r["id"] for r in json.loads(out)] == ["torchhub:pytorch/vision/resnet50"]
    code, out, _ = run(["--db", db, "search", "--license", "permissive", "--platform", "tfhub", "--csv"], capsys)
    assert out.splitlines()[0].startswith("id,platform,name") and "tfhub:google/nnlm-en-dim128/2" in out
    code, out, err = run(["--db", db, "search", "nothingmatches"], capsys)
    assert code == 0 and "no models found" in err


def test_show(db, capsys):
    code, out, _ = run(["--db", db, "show", "bert-base-uncased"], capsys)
    assert code == 0 and "110M (110,106,428)" in out and "apache-2.0" in out
    code, out, _ = run(["--db", db, "show", "hf:bert-base-uncased", "--json"], capsys)
    data = json.loads(out)
    assert isinstance(data, dict) and data["id"] == "hf:google-bert/bert-base-uncased"


def test_show_offline_miss(db, capsys):
    code, _, err = run(["--db", db, "--offline", "show", "hf:nobody/nothing"], capsys)
    assert code != 0 and err.startswith("error: ") and "ptmhub resolve" in err and err.count("\n") == 1


def test_ls(db, capsys):
    code, out, _ = run(["--db", db, "ls", "--json"], capsys)
    assert [r["id"] for r in json.loads(out)] == ["hf:google-bert/bert-base-uncased", "tfhub:google/nnlm-en-dim128/2",
                                                  "torchhub:pytorch/vision/resnet50"]
    code, out, _ = run(["--db", db, "ls", "--platform", "torchhub"], capsys)
    assert "resnet50" in out and "bert" not in out


def test_db_commands(tmp_path, capsys):
    path = str(tmp_path / "new.db")
    code, out, _ = run(["--db", path, "db", "upgrade"], capsys)
    from ptmhub.registry.schema import SCHEMA_HEAD

    assert code == 0 and f"(empty) -> {SCHEMA_HEAD}" in out
    code, out, _ = run(["--db", path, "db", "upgrade"], capsys)
    assert f"already at schema {SCHEMA_HEAD}" in out
    code, out, _ = run(["--db", path, "db", "current"], capsys)
    assert out.startswith(SCHEMA_HEAD) and "up to date" in out


def test_trust_commands(db, capsys):
    code, out, _ = run(["--db", db, "trust", "add", "Pytorch/Vision"], capsys)
    assert code == 0 and "pytorch/vision" in out
    code, out, _ = run(["--db", db, "trust", "ls", "--json"], capsys)
    assert {"repo": "pytorch/vision", "source": "registry"} in json.loads(out)
    code, out, _ = run(["--db", db, "trust", "rm", "pytorch/vision"], capsys)
    assert code == 0
    code, _, err = run(["--db", db, "trust", "rm", "pytorch/vision"], capsys)
    assert code != 0 and "not in the trust list" in err
    code, _, err = run(["--db", db, "trust", "add", "../../etc"], capsys)
    assert code != 0 and err.startswith("error: ")


BAD_IDS = ["", "hf:../x", "/etc/passwd", "a\\b", "hf:a\x01b", "x" * 600, "zz:foo/bar", "a//b", "hf:a/b/c",
           "tfhub:google/nnlm", "kaggle:x", "torchhub:pytorch/vision", "a/b/c/d"]


@pytest.mark.parametrize("bad", BAD_IDS, ids=[repr(b)[:20] for b in BAD_IDS])
@pytest.mark.parametrize("command", ["show", "resolve", "pull"])
def test_malformed_ids_one_line_no_traceback(db, capsys, command, bad):
    code, out, err = run(["--db", db, command, bad], capsys)
    assert code == 2
    assert err.startswith("error: invalid model ID") or err.startswith("error: cannot tell")
    assert err.count("\n") == 1 and "Traceback" not in err and out == ""


def test_usage_errors(db, capsys):
    code, _, err = run(["--db", db, "search", "--max-params", "lots"], capsys)
    assert code == 2 and "110M" in err and err.count("\n") == 1
    code, _, err = run(["--db", db, "search", "--platform", "modelzoo"], capsys)
    assert code == 2 and "unknown platform" in err
    code, _, err = run(["--db", db, "search", "--sort", "nope"], capsys)
    assert code == 2 and "Traceback" not in err


def test_outdated_registry_names_upgrade(tmp_path, capsys):
    import sqlite3

    path = tmp_path / "old.db"
    open_store(f"sqlite:///{path}")
    from ptmhub.registry import engine

    engine.dispose_all()
    con = sqlite3.connect(path)
    con.execute("UPDATE alembic_version SET version_num='0000'")
    con.commit()
    con.close()
    code, _, err = run(["--db", str(path), "search", "bert"], capsys)
    assert code != 0 and "db upgrade" in err and err.count("\n") == 1


def test_db_path_is_a_folder(tmp_path, capsys):
    code, _, err = run(["--db", str(tmp_path), "ls"], capsys)
    assert code == 2 and "is a folder" in err


def test_runner_every_command_has_help():
    runner = CliRunner()

    def walk(group, prefix):
        for name, command in group.commands.items():
            result = runner.invoke(cli, [*prefix, name, "--help"])
            assert result.exit_code == 0, (prefix, name, result.output)
            if hasattr(command, "commands"):
                walk(command, [*prefix, name])

    walk(cli, [])


def test_real_process_error_has_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ptmhub", "--db", str(tmp_path / "r.db"), "show", "hf:../../etc"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_help_imports_no_heavy_modules():
    code = ("import sys, runpy; sys.argv=['ptmhub','--help']\n"
            "try:\n    runpy.run_module('ptmhub', run_name='__main__')\nexcept SystemExit: pass\n"
            "heavy=[m for m in ('sqlalchemy','torch','tensorflow','transformers','huggingface_hub','alembic','rich')"
            " if m in sys.modules]\nprint('HEAVY', heavy)")
    for args in (["--help"], ["--version"]):
        proc = subprocess.run([sys.executable, "-c", code.replace("'--help'", repr(args[0]))],
                              capture_output=True, text=True, timeout=60)
        assert "HEAVY []" in proc.stdout, proc.stdout + proc.stderr


def test_entrypoints_of_installed_torchvision(db, capsys):
    pytest.importorskip("torchvision")
    code, out, _ = run(["--db", db, "entrypoints", "pytorch/vision", "--json"], capsys)
    names = {row["name"] for row in json.loads(out)}
    assert code == 0 and {"resnet18", "resnet50", "mobilenet_v2", "vgg16"} <= names


BAD_NUMBERS = [("--min-params", "1e30"), ("--min-params", "99999999999999999999"), ("--max-params", "-5"),
               ("--max-params", "1e400"), ("--max-params", "nan"), ("--max-params", "9" * 400),
               ("--max-params", "inf"), ("--limit", "99999999999999999999"), ("--limit", "-1"),
               ("--offset", str(2**63)), ("--offset", "-3"), ("--limit", "1.5")]


@pytest.mark.parametrize("option,value", BAD_NUMBERS, ids=[f"{o}={v[:12]}" for o, v in BAD_NUMBERS])
@pytest.mark.parametrize("command", ["search", "ls"])
def test_numeric_options_are_one_line_usage_errors(db, capsys, command, option, value):
    code, out, err = run(["--db", db, command, option, value], capsys)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert option in err


def test_largest_numbers_are_accepted(db, capsys):
    top = str(2**63 - 1)
    for args in (["--min-params", top], ["--offset", top], ["--limit", top], ["--max-params", "1.5B"]):
        code, _, err = run(["--db", db, "search", *args, "--json"], capsys)
        assert code == 0, (args, err)


def test_click_usage_errors_are_one_line(db, capsys):
    for args in (["search", "--sort", "nope"], ["search", "--no-such-option"], ["show"], ["nosuchcommand"]):
        code, out, err = run(["--db", db, *args], capsys)
        assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and "--help" in err, (args, err)


def test_listings_say_the_total_and_limit_0_is_all(db, capsys):
    code, out, err = run(["--db", db, "ls", "--limit", "2"], capsys)
    assert code == 0 and "showing 2 of 3; --limit 0 for all" in err
    code, out, err = run(["--db", db, "ls", "--limit", "2", "--json"], capsys)
    assert len(json.loads(out)) == 2 and "showing 2 of 3; --limit 0 for all" in err
    code, out, err = run(["--db", db, "ls", "--limit", "1", "--offset", "1", "--csv"], capsys)
    assert len(out.splitlines()) == 2 and "showing 2-2 of 3" in err
    code, out, err = run(["--db", db, "ls", "--limit", "0", "--json"], capsys)
    assert len(json.loads(out)) == 3 and err == ""
    code, out, err = run(["--db", db, "search", "--limit", "0", "--csv"], capsys)
    assert len(out.splitlines()) == 4 and err == ""
    code, out, err = run(["--db", db, "ls", "--offset", "10"], capsys)
    assert "past the last of 3 models" in err


def test_empty_registry_says_how_to_fill_it(tmp_path, capsys):
    db = str(tmp_path / "empty.db")
    for args in (["search", "bert"], ["ls"], ["ls", "--json"]):
        code, out, err = run(["--db", db, *args], capsys)
        assert code == 0 and "is empty" in err and "ptmhub sync torchvision" in err and "ptmhub sync hf" in err
    code, _, err = run(["--db", db, "search", "bert"], capsys)
    assert "ptmhub sync tfhub --source" in err


def test_a_search_with_no_match_in_a_full_registry_does_not_say_empty(db, capsys):
    code, _, err = run(["--db", db, "search", "nothingmatches"], capsys)
    assert code == 0 and "no models found" in err and "is empty" not in err


def test_an_import_error_is_mapped_to_its_extra():
    """The mapping itself; tests/test_first_run.py runs every command with the modules absent."""
    from ptmhub.cli.extras import command_path, missing_dependency

    assert command_path(["--db", "x", "--offline", "sync", "timm", "--json"], cli) == "ptmhub sync timm"
    assert command_path(["--db=x", "cache", "scan"], cli) == "ptmhub cache scan"
    error = missing_dependency(ModuleNotFoundError("No module named 'httpx2'", name="httpx2"), "ptmhub show")
    assert str(error).startswith("ptmhub show needs the '") and str(error).endswith("(pip install 'ptmhub[hf]')")
    assert error.exit_code == 9 and error.package in ("httpx2", "huggingface_hub")
    kaggle = missing_dependency(ModuleNotFoundError("No module named 'kagglehub.clients'", name="kagglehub.clients"),
                                "ptmhub resolve")
    assert kaggle.package == "kagglehub" and "ptmhub[tf]" in str(kaggle)
    unknown = missing_dependency(ModuleNotFoundError("No module named 'zzz'", name="zzz.sub"), "ptmhub load")
    assert "'zzz'" in str(unknown) and "ptmhub[all]" in str(unknown)


def test_an_unknown_filter_value_on_an_empty_registry_says_how_to_fill_it(tmp_path, db, capsys):
    code, _, err = run(["--db", str(tmp_path / "empty.db"), "search", "--task", "image-clasification"], capsys)
    assert code == 2 and err.count("\n") == 1 and "is empty: fill it with 'ptmhub sync torchvision'" in err
    code, _, err = run(["--db", db, "search", "--task", "image-clasification"], capsys)  # a filled one
    assert code == 2 and err.count("\n") == 1 and "is empty" not in err and "image-classification" in err
