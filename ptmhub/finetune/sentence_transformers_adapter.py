"""sentence-transformers checkpoints (all-MiniLM-L6-v2, all-mpnet-base-v2, ...): a linear
classification head on the pooled sentence embedding.

The model is :class:`SentenceClassifier`: ``body`` (the ``SentenceTransformer``: transformer,
pooling, normalisation) then ``head`` (``nn.Linear(embedding_dim, num_labels)``). It takes the
dict ``bundle.preprocess(texts)`` returns, or a list of strings, and gives logits. The blocks
are the transformer's encoder layers. The BERT pooler that ``AutoModel`` builds is never used by
sentence-transformers' pooling (mean / CLS token of the last hidden state), so it stays frozen in
every strategy and the notes say so.

Imported only when such a model is fine-tuned (torch is imported at module level here).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ..errors import MissingDependencyError, UsageError
from .torch_adapter import freeze
from .transformers_adapter import encoder_layers, quiet

__all__ = ["is_sentence_transformers_folder", "load_folder", "adapt", "SentenceClassifier", "body_parts",
           "embedding_size"]


def is_sentence_transformers_folder(folder: str | Path) -> bool:
    folder = Path(folder)
    return (folder / "modules.json").is_file() or (folder / "sentence_bert_config.json").is_file()


def _st() -> Any:
    try:
        import sentence_transformers
    except ImportError:
        raise MissingDependencyError("sentence-transformers", "st",
                                     purpose="fine-tuning a sentence-transformers model") from None
    return sentence_transformers


def load_folder(folder: str | Path, **kwargs: Any) -> Any:
    """``SentenceTransformer(folder)`` on the CPU, never from the network."""
    st = _st()
    kwargs.setdefault("device", "cpu")
    with quiet():
        return st.SentenceTransformer(str(folder), local_files_only=True, **kwargs)


class SentenceClassifier(nn.Module):
    """A ``SentenceTransformer`` body and a linear head on its sentence embedding."""

    def __init__(self, body: Any, num_labels: int, labels: Sequence[str] | None = None):
        super().__init__()
        dim = embedding_size(body)
        self.body = body
        self.head = nn.Linear(dim, num_labels)
        self.labels = list(labels) if labels is not None else [f"LABEL_{i}" for i in range(num_labels)]

    def tokenize(self, texts: Sequence[str]) -> dict[str, Any]:
        """Token ids and attention masks for ``texts`` (the body's own tokenizer and length)."""
        fn = getattr(self.body, "preprocess", None) or self.body.tokenize
        return fn(list(texts))

    def embed(self, features: dict[str, Any] | Sequence[str]) -> torch.Tensor:
        """The body's sentence embeddings for token features or raw strings."""
        if isinstance(features, (list, tuple)):
            features = self.tokenize(features)
        device = self.head.weight.device
        features = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in features.items()}
        return self.body(features)["sentence_embedding"]

    def forward(self, features: dict[str, Any] | Sequence[str]) -> torch.Tensor:
        return self.head(self.embed(features))


def _transformer_module(body: Any) -> Any:
    for module in body.children():
        if hasattr(module, "auto_model"):
            return module.auto_model
    raise UsageError("this sentence-transformers model has no transformer module",
                     hint="ptmhub's head expects a Transformer -> Pooling stack")


def body_parts(body: Any) -> dict[str, Any]:
    """What :func:`freeze` needs of a ``SentenceTransformer``: its encoder layers (``blocks``,
    ``block_word``) and the pooler its pooling never calls (``never_train``, ``never_train_reason``).
    Shared with the multi-head models (:mod:`ptmhub.finetune.multihead`)."""
    auto_model = _transformer_module(body)
    layers, word = encoder_layers(auto_model)
    pooler = getattr(auto_model, "pooler", None)
    unused = [pooler] if pooler is not None and any(True for _ in pooler.parameters()) else []
    return {"blocks": layers, "block_word": word, "never_train": unused,
            "never_train_reason": ("kept frozen in every strategy: the transformer's pooler "
                                   f"({sum(p.numel() for m in unused for p in m.parameters()):,} parameters), "
                                   "which sentence-transformers' pooling never calls") if unused else ""}


def embedding_size(body: Any) -> int:
    """The sentence embedding's size.

    Raises:
        UsageError: the model does not report it.
    """
    dim_of = getattr(body, "get_embedding_dimension", None) or body.get_sentence_embedding_dimension
    dim = dim_of()
    if not dim:
        raise UsageError("this sentence-transformers model does not report its embedding size")
    return int(dim)


def adapt(body: Any, *, num_labels: int, strategy: str, unfreeze_last: int | None = None,
          labels: Sequence[str] | None = None) -> dict[str, Any]:
    """Put a ``num_labels`` head on a loaded ``SentenceTransformer`` and freeze it."""
    model = SentenceClassifier(body, num_labels, labels)
    frozen = freeze(model, head=[model.head], strategy=strategy, unfreeze_last=unfreeze_last, **body_parts(body))
    dim = model.head.in_features
    pooling = [type(m).__name__ for m in body.children()]
    notes = [f"head: Linear({dim} -> {num_labels}) on the sentence embedding ({' -> '.join(pooling)}), "
             "newly initialised",
             "preprocess: the body's tokenizer (bundle.preprocess(texts) -> dict of tensors; the model also "
             "takes a list of strings)", *frozen.notes]
    model.train()
    return {"model": model, "preprocess": model.tokenize, "head": "head", "frozen": frozen, "notes": notes,
            "family": "sentence-embedding", "adapter": "sentence-transformers", "task": "text-classification"}
