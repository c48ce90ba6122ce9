"""ptmhub export onnx: the real all-MiniLM-L6-v2 (as a sentence-transformers pipeline and as the
BertModel that save_pretrained writes), a timm model from the HF cache, a torchvision model from
TORCH_HOME and a transformers image model are exported and run in onnxruntime; parity is
checked here again, independently of the code under test, on inputs of yet another batch size.
Refusals (TensorFlow, a missing source, an existing output, a parity failure, a model the
exporter cannot capture) leave no file behind and end the command with one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import ptmhub
from ptmhub import api, settings
from ptmhub.errors import ExportError, NotCachedError, ParityError, UsageError

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxscript")
ort = pytest.importorskip("onnxruntime")
np = pytest.importorskip("numpy")

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, "-m", "ptmhub", *args], check=False, capture_output=True, text=True,
                          timeout=600, env=env, cwd=cwd)


def one_line_error(run: subprocess.CompletedProcess) -> str:
    """The error line, which ends stderr (a model that loaded may have drawn the library's own
    progress bar above it); never a traceback."""
    lines = run.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("error: "), run.stderr
    assert "Traceback" not in run.stderr and sum(line.startswith("error: ") for line in lines) == 1
    return lines[-1]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".onnx", ".partial")))


def session(path: Path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _hf_cache_copy(folder: Path, repo_id: str) -> Path:
    """Lay a model folder out as huggingface_hub's cache does (refs/main -> snapshots/<sha>)."""
    import shutil

    repo = settings.get().hf_hub_cache / ("models--" + repo_id.replace("/", "--"))
    sha = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(folder, repo / "snapshots" / sha)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(sha)
    return repo / "snapshots" / sha


# -- the real all-MiniLM-L6-v2 -------------------------------------------------------------------

@pytest.mark.slow
def test_minilm_sentence_transformers_pipeline(minilm_dir, tmp_path):
    from sentence_transformers import SentenceTransformer

    out = tmp_path / "minilm.onnx"
    report = ptmhub.export_onnx(minilm_dir, out)  # a folder: no registry is opened
    assert report.kind == "sentence-transformers" and report.model_class == "SentenceTransformer"
    assert out.is_file() and out.stat().st_size == report.file_size_bytes > 80_000_000
    assert leftovers(tmp_path) == ["minilm.onnx"]
    assert report.opset >= 18 and report.exporter == "torch.onnx.export(dynamo=True)"
    assert [(s.name, s.shape) for s in report.inputs] == [
        ("input_ids", ("batch", "sequence")), ("token_type_ids", ("batch", "sequence")),
        ("attention_mask", ("batch", "sequence"))]
    assert [(s.name, s.shape) for s in report.outputs] == [("sentence_embedding", ("batch", 384))]
    first, second = (c.input_shapes["input_ids"] for c in report.checks)
    assert first[0] == 2 and second[0] == 3 and first[1] != second[1]  # both dynamic axes were exercised
    assert 0 <= report.max_abs_diff["sentence_embedding"] <= 1e-4 == report.atol
    assert report.export_seconds > 0 and report.check_seconds > 0
    assert not (settings.get().home / "registry.db").exists()

    # independently: the file against sentence-transformers' own encode, on five sentences
    texts = ["one", "two words", "a third, somewhat longer sentence", "four", "the fifth and last one of them"]
    st = SentenceTransformer(str(minilm_dir), local_files_only=True)
    want = st.encode(texts, convert_to_numpy=True)
    feed = {k: v.numpy() for k, v in st.tokenizer(texts, padding=True, return_tensors="pt").items()}
    got = session(out).run(None, {i.name: feed[i.name] for i in session(out).get_inputs()})[0]
    assert got.shape == (5, 384)
    assert float(np.abs(got - want).max()) < 1e-5


@pytest.mark.slow
def test_minilm_bert_folder_from_save_pretrained_via_the_cli(minilm_dir, tmp_path):
    import transformers

    folder = tmp_path / "bert"
    transformers.AutoModel.from_pretrained(str(minilm_dir), local_files_only=True).save_pretrained(folder)
    transformers.AutoTokenizer.from_pretrained(str(minilm_dir), local_files_only=True).save_pretrained(folder)
    out = tmp_path / "out"
    out.mkdir()
    run = run_cli("export", "onnx", str(folder), "-o", str(out), "--json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)  # stdout is the JSON document alone: the exporter's chatter is kept off it
    assert report["kind"] == "transformers" and report["model_class"] == "BertModel"
    assert report["output"] == str(out / "bert.onnx") and leftovers(out) == ["bert.onnx"]
    assert {o["name"]: o["shape"] for o in report["outputs"]} == {
        "last_hidden_state": ["batch", "sequence", 384], "pooler_output": ["batch", 384]}
    assert set(report["max_abs_diff"]) == {"last_hidden_state", "pooler_output"}
    assert max(report["max_abs_diff"].values()) <= 1e-4
    assert report["versions"]["onnxruntime"] == ort.__version__

    # independently: batch 4, sequence length 7, against transformers
    model = transformers.AutoModel.from_pretrained(str(folder), local_files_only=True).eval()
    ids = torch.randint(1000, 2000, (4, 7))
    mask = torch.ones_like(ids)
    with torch.no_grad():
        want = model(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)).last_hidden_state
    sess = session(out / "bert.onnx")
    got = sess.run(["last_hidden_state"], {"input_ids": ids.numpy(), "attention_mask": mask.numpy(),
                                           "token_type_ids": np.zeros((4, 7), dtype=np.int64)})[0]
    assert float(np.abs(got - want.numpy()).max()) < 1e-4

    # the same again: refused, the file untouched
    before = (out / "bert.onnx").stat().st_mtime_ns
    again = run_cli("export", "onnx", str(folder), "-o", str(out / "bert.onnx"))
    assert again.returncode == UsageError.exit_code
    assert "exists" in one_line_error(again) and "--force" in again.stderr
    assert (out / "bert.onnx").stat().st_mtime_ns == before


# -- image models --------------------------------------------------------------------------------
@pytest.mark.slow
def test_timm_model_from_the_hf_cache(tmp_path):
    timm = pytest.importorskip("timm")
    from timm.models import save_for_hf

    torch.manual_seed(3)
    source = timm.create_model("test_resnet", pretrained=False, num_classes=5).eval()
    save_for_hf(source, tmp_path / "tiny", safe_serialization=True)
    _hf_cache_copy(tmp_path / "tiny", "timm/test_resnet.tiny")
    out = tmp_path / "t.onnx"
    report = api.export_onnx("hf:timm/test_resnet.tiny", out)
    assert report.kind == "timm" and report.source == "hf:timm/test_resnet.tiny"
    assert [(s.name, s.shape) for s in report.inputs] == [("input", ("batch", 3, 160, 160))]  # pretrained_cfg
    assert [(s.name, s.shape) for s in report.outputs] == [("output", ("batch", 5))]
    assert [c.input_shapes["input"][0] for c in report.checks] == [2, 3]
    assert report.max_abs_diff["output"] <= 1e-4
    images = torch.randn(5, 3, 160, 160)
    with torch.no_grad():
        want = source(images).numpy()
    got = session(out).run(None, {"input": images.numpy()})[0]
    assert float(np.abs(got - want).max()) < 1e-4  # the cached weights, not a fresh initialisation


@pytest.mark.slow
def test_torchvision_model_from_torch_home(tmp_path):
    torchvision = pytest.importorskip("torchvision")
    from urllib.parse import urlsplit

    weights = torchvision.models.ResNet18_Weights.DEFAULT
    checkpoints = settings.get().torch_home / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.manual_seed(1)
    source = torchvision.models.resnet18(weights=None).eval()
    torch.save(source.state_dict(), checkpoints / Path(urlsplit(weights.url).path).name)
    report = api.export_onnx("torchhub:pytorch/vision/resnet18", tmp_path)
    out = tmp_path / "resnet18.onnx"
    assert report.output == str(out) and report.kind == "torch" and report.model_class == "ResNet"
    assert report.inputs[0].shape == ("batch", 3, 224, 224)  # the weights' transforms crop to 224
    assert report.max_abs_diff["output"] <= 1e-4
    images = torch.randn(4, 3, 224, 224)
    with torch.no_grad():
        want = source(images).numpy()
    assert float(np.abs(session(out).run(None, {"input": images.numpy()})[0] - want).max()) < 1e-4


@pytest.fixture(scope="module")
def tiny_vit_dir(tmp_path_factory) -> Path:
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2,
                                    num_attention_heads=2, intermediate_size=64, num_labels=3)
    folder = tmp_path_factory.mktemp("vit") / "tiny-vit"
    transformers.ViTForImageClassification(config).save_pretrained(folder)
    return folder


@pytest.mark.slow
def test_transformers_image_model_and_a_parity_failure_via_the_cli(tiny_vit_dir, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from ptmhub.cli import cli

    monkeypatch.chdir(tmp_path)  # the default output: NAME.onnx here
    run = CliRunner().invoke(cli, ["export", "onnx", str(tiny_vit_dir), "--opset", "18", "--json"])
    assert run.exit_code == 0, run.output
    report = json.loads(run.stdout)
    assert report["output"] == str(tmp_path / "tiny-vit.onnx") and report["opset"] == 18
    assert report["inputs"] == [{"name": "pixel_values", "shape": ["batch", 3, 32, 32], "dtype": "tensor(float)"}]
    assert report["outputs"][0]["name"] == "logits" and report["outputs"][0]["shape"] == ["batch", 3]
    diff = report["max_abs_diff"]["logits"]
    assert 0 < diff <= 1e-4  # float32 kernels differ a little: atol 0 must then fail

    # --force replaces a file only with one that passed: this one fails, the old file stays
    before = (tmp_path / "tiny-vit.onnx").read_bytes()
    exact = run_cli("export", "onnx", str(tiny_vit_dir), "--atol", "0", "--force", cwd=tmp_path)
    assert exact.returncode == ParityError.exit_code == 10
    line = one_line_error(exact)
    assert "more than atol 0" in line and "nothing written" in line
    assert leftovers(tmp_path) == ["tiny-vit.onnx"] and (tmp_path / "tiny-vit.onnx").read_bytes() == before

    text = CliRunner().invoke(cli, ["export", "onnx", str(tiny_vit_dir), "-o", str(tmp_path / "text.onnx")])
    assert text.exit_code == 0, text.output
    assert f"wrote {tmp_path / 'text.onnx'}" in text.stdout
    assert "max abs diff: logits" in text.stdout and "pixel_values [batch, 3, 32, 32]" in text.stdout


# -- refusals ------------------------------------------------------------------------------------
class Noisy(torch.nn.Module):
    """Adds fresh noise on every call: whatever the exporter does, two runs cannot agree."""

    def forward(self, x):
        return x + torch.rand_like(x)


class Branchy(torch.nn.Module):
    """Takes a branch on a tensor's value, which torch.export refuses to freeze."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(224, 2)

    def forward(self, x):
        return self.linear(x) if x.sum() > 0 else -self.linear(x)


def test_parity_failure_writes_nothing(tmp_path):
    with pytest.raises(ParityError, match=r"differs from torch's by up to .* more than atol 0.0001; nothing written"):
        api.export_onnx(Noisy(), tmp_path / "noisy.onnx")
    assert leftovers(tmp_path) == []


def test_what_the_exporter_cannot_capture_is_one_line(tmp_path):
    with pytest.raises(ExportError, match="could not export Branchy: Could not guard on data-dependent") as err:
        api.export_onnx(Branchy(), tmp_path / "b.onnx")
    assert "\n" not in str(err.value) and "\x1b" not in str(err.value)
    assert leftovers(tmp_path) == []


def test_refusals_before_anything_loads(tmp_path):
    tf = tmp_path / "tf"
    tf.mkdir()
    (tf / "saved_model.pb").write_bytes(b"\x08\x01")
    with pytest.raises(UsageError, match="ONNX export covers torch and transformers models"):
        api.export_onnx(tf, tmp_path / "x.onnx")
    with pytest.raises(UsageError, match="does not exist"):
        api.export_onnx(tmp_path / "nowhere", tmp_path / "x.onnx")
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text('{"model_type": "bert"}')  # never loaded: the output is checked first
    (tmp_path / "taken.onnx").write_bytes(b"mine")
    with pytest.raises(UsageError, match="taken.onnx exists"):
        api.export_onnx(bert, tmp_path / "taken.onnx")
    assert (tmp_path / "taken.onnx").read_bytes() == b"mine"
    with pytest.raises(UsageError, match="is not a folder"):
        api.export_onnx(bert, tmp_path / "no" / "such" / "x.onnx")
    with pytest.raises(UsageError, match="atol"):
        api.export_onnx(bert, tmp_path / "x.onnx", atol=-1)
    with pytest.raises(UsageError, match="opset"):
        api.export_onnx(bert, tmp_path / "x.onnx", opset=3)
    with pytest.raises(NotCachedError, match="ptmhub pull"):
        api.export_onnx("hf:nobody/nothing", tmp_path / "x.onnx")
    assert leftovers(tmp_path) == ["taken.onnx"]


def test_a_model_that_does_not_run_on_the_example_input_is_one_line(minilm_dir, tmp_path):
    import transformers

    from ptmhub.hubs.base import Loaded

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(minilm_dir), local_files_only=True)
    t5 = transformers.T5Model(transformers.T5Config(vocab_size=tokenizer.vocab_size, d_model=16, d_kv=4, d_ff=32,
                                                    num_layers=1, num_heads=2))
    with pytest.raises(UsageError, match="does not run on its tokenizer's input_ids.*encoder-decoder"):
        api.export_onnx(Loaded(model=t5, preprocess=tokenizer), tmp_path / "t5.onnx")
    with pytest.raises(UsageError, match=r"does not run on an image tensor of shape \(2, 3, 224, 224\)"):
        api.export_onnx(torch.nn.Linear(5, 2), tmp_path / "linear.onnx")
    assert leftovers(tmp_path) == []


def test_a_missing_onnxruntime_names_the_extra(tmp_path, monkeypatch):
    from ptmhub.errors import MissingDependencyError

    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text('{"model_type": "bert"}')
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    with pytest.raises(MissingDependencyError, match=r"'onnxruntime' package.*pip install 'ptmhub\[onnx\]'"):
        api.export_onnx(bert, tmp_path / "x.onnx")
    assert leftovers(tmp_path) == []


def test_a_tensorflow_hub_model_is_refused_from_its_record(sqlite_store, tmp_path):
    from ptmhub.records import ModelRecord

    sqlite_store.upsert([ModelRecord(id="tfhub:acme/tiny/1", platform="tfhub", name="tiny", owner="acme",
                                     framework="tensorflow")])
    with pytest.raises(UsageError, match="tfhub:acme/tiny/1 is a tensorflow model; ONNX export covers torch"):
        api.export_onnx("tfhub:acme/tiny/1", tmp_path / "x.onnx", store=sqlite_store)
    assert leftovers(tmp_path) == []


def test_cli_refusals_exit_codes(tmp_path):
    tf = tmp_path / "tf"
    tf.mkdir()
    (tf / "saved_model.pb").write_bytes(b"\x08\x01")
    run = run_cli("export", "onnx", str(tf))
    assert run.returncode == 2 and "covers torch and transformers" in one_line_error(run)
    assert "tf2onnx" in run.stderr
    missing = run_cli("export", "onnx", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "does not exist" in one_line_error(missing)
    uncached = run_cli("export", "onnx", "hf:nobody/nothing")
    assert uncached.returncode == NotCachedError.exit_code and "ptmhub pull" in one_line_error(uncached)
    bad = run_cli("export", "onnx", str(tf), "--atol", "-1")
    assert bad.returncode == 2 and "--atol" in one_line_error(bad)
    assert leftovers(tmp_path) == []


def test_public_api():
    assert ptmhub.export_onnx is api.export_onnx
    assert "export_onnx" in ptmhub.__all__
