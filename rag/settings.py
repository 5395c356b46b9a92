"""One settings object: defaults here, overridden by ``RAG_*`` environment variables.

Every tunable number lives here with the reason it has its value, so that a reader
never has to hunt for a constant in the pipeline modules.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "minutes-qa"


@dataclass(frozen=True)
class Settings:
    # Where the SQLite database, the FAISS index and its manifest live.
    index_dir: Path = PROJECT_ROOT / "index"
    # The bundled sample corpus, ingested by the first `ask` on a fresh checkout.
    corpus_dir: Path = PROJECT_ROOT / "data" / "minutes"
    prompts_dir: Path = PROJECT_ROOT / "prompts"
    # Split models are assembled here once (about 1.1 GB for the default model).
    model_cache_dir: Path = field(default_factory=_default_cache)
    # A GGUF file of the user's own; when set it replaces the bundled default model.
    model_path: Path | None = None
    # An OpenAI-compatible chat-completions server (vLLM, llama.cpp's server, Ollama) to
    # generate with instead of the in-process model; llm_model names the served model.
    llm_url: str | None = None
    llm_model: str | None = None
    # Seconds to wait for the server's first byte, and between streamed pieces.
    llm_timeout: float = 120.0

    # Chunking: most agenda items are under 2,000 characters and stay whole; longer
    # ones are split with an overlap so a sentence on the boundary is in both halves.
    chunk_size: int = 1500
    chunk_overlap: int = 200

    # Retrieval: candidates fetched from each retriever before fusion, and items kept.
    candidates: int = 30
    top_k: int = 4
    # Reciprocal rank fusion constant; 60 is the value from the RRF paper and works
    # across corpus sizes without tuning.
    rrf_k: int = 60
    # Weight of the keyword (BM25) ranking against the dense one in that fusion. Questions
    # about minutes name their matter (a place, a post, a sum), and the words find the item
    # more often than the embedding does. Recall@5 / MRR of the gold items
    # (`python eval/fusion_sweep.py --split dev|seen`): equal weights dev 0.940 / 0.846,
    # seen 0.986 / 0.909; keyword alone 0.965 / 0.868, 0.965 / 0.941; weight 5 0.972 / 0.874,
    # 0.984 / 0.946. The dense ranking still orders near ties and fills in when the words
    # find little.
    keyword_weight: float = 5.0
    # Below this many chunks FAISS searches exactly; above it an IVF index is built.
    exact_search_max: int = 20000

    # A PostgreSQL (with pgvector) URL shared by many app processes, instead of the SQLite
    # database and FAISS file in index_dir, e.g. postgresql://user:pw@host/minutes.
    database_url: str | None = None
    # pgvector HNSW: m links per node and ef_construction candidates while building (pgvector's
    # defaults; set when the index is first created); ef_search candidates per query: 200
    # gave recall@10 0.95 at 100k vectors (0.91 at 100, 0.97 at 400 for twice the time), and
    # the exact neighbours at corpus sizes (docs/scale.md has the measurements).
    hnsw_m: int = 16
    hnsw_ef_construction: int = 64
    hnsw_ef_search: int = 200

    # Generation. The context window only needs to hold the passages (about 750 prompt
    # tokens at the median) plus the answer; a small window keeps memory and start-up low.
    n_ctx: int = 2048
    max_answer_tokens: int = 120
    # llama.cpp's fused attention kernel (RAG_FLASH_ATTN=1). It is about 5% faster here but
    # rounds differently, and greedy answers follow the rounding: on dev, each run fresh,
    # p50 8.75 -> 8.29 s on the 80 dev2 questions, but accuracy 0.723 -> 0.707 on all 249
    # (0.588 -> 0.600 on dev2, 0.787 -> 0.757 on the older 169). Off until a run shows
    # it costs nothing.
    flash_attn: bool = False
    # Prompt-lookup decoding: tokens drafted per step from the prompt's own words and checked
    # in one batch (RAG_DRAFT_TOKENS=0 turns it off). Greedy answers stay the same up to
    # rounding; decoding is faster because answers repeat the passages' names and sums.
    draft_tokens: int = 3
    # Evidence sent to the model per question: items whole when they fit their share of the
    # budget, else their best sentences. Prompt processing dominates latency on 2 cores, but
    # a budget of 1,500 characters hid the answer of other bodies' long items: on the dev
    # split 2,400 moved answerable questions declined from 16% to 8% (about +200 prompt tokens).
    evidence_sentences: int = 10
    evidence_chars: int = 2400
    threads: int = max(1, os.cpu_count() or 1)
    # A passage whose best evidence sentence scores below this similarity is treated as
    # unrelated to the question (all-MiniLM-L6-v2 cosine scale).
    relevance_floor: float = 0.30
    # ...and one scoring this far below the best passage is left out of the prompt. A meeting's
    # opening lines (body, date, who attended) match a question naming the body and month
    # strongly, so 0.15 dropped the item that answered; 0.3 keeps it.
    relevance_margin: float = 0.3
    # When the model's answer fails the grounding check, a best passage scoring at least
    # this is answered from its own sentences instead of declined (a clear match; the
    # near misses of unanswerable questions score lower).
    confident_floor: float = 0.75
    # When the model declines, the minutes' best sentences are still given as the answer if
    # the model, asked "does this text give what the question asks for?", puts P(yes) at
    # least this. On the dev split the declined questions whose best sentences held the
    # answer scored 0.53-0.72, the unanswerable ones 0.36-0.60 (prompts/check.txt).
    answers_floor: float = 0.61
    # A meeting joins a "what happened to X" timeline only on clearer evidence than that.
    timeline_floor: float = 0.40
    # Answer rules switched off, comma-separated (RAG_RULES_OFF=amount_date,grounding): for
    # the ablation table in eval/README.md. Names: amount_date, grounding, whole_items,
    # closest_says, parts, timeline, schedule, restates, quote_rescue, reported_later,
    # names, named_time, presupposes.
    rules_off: str = ""
    # Evaluation only: a SQLite file of earlier generations, keyed by the exact prompt, reused
    # instead of generating again (rag eval --reuse-generations FILE; the ablation runs).
    generation_memo: Path | None = None

    def with_overrides(self, **changes) -> "Settings":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def _coerce(kind, raw: str):
    text = str(kind)
    if text == "bool":
        words = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}
        if raw.strip().lower() not in words:
            raise ValueError("use 1 or 0")
        return words[raw.strip().lower()]
    if "Path" in text:
        return Path(raw).expanduser()
    if "int" in text:
        return int(raw)
    if "float" in text:
        return float(raw)
    return raw


def load_settings() -> Settings:
    """Defaults plus ``RAG_<FIELD>`` environment overrides (e.g. ``RAG_INDEX_DIR``, ``RAG_TOP_K``)."""
    changes = {}
    for f in fields(Settings):
        raw = os.environ.get(f"RAG_{f.name.upper()}")
        if raw:
            try:
                changes[f.name] = _coerce(f.type, raw)
            except ValueError as exc:
                raise SystemExit(f"error: RAG_{f.name.upper()}={raw!r} is not a valid value ({exc})")
    return Settings(**changes)


def settings_for(index_dir: str | Path | None = None, database_url: str | None = None) -> Settings:
    """load_settings(), with --index-dir and --database-url applied when given."""
    s = load_settings()
    return s.with_overrides(index_dir=Path(index_dir) if index_dir else None, database_url=database_url or None)
