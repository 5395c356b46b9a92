"""The local LLM through llama-cpp-python: loaded once per process, streamed, deterministic."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from .models import force_offline


class LLM:
    """A GGUF chat model. Greedy decoding, so the same passages give the same answer.

    >>> llm = LLM(tiny_model_path())                              # doctest: +SKIP
    >>> "".join(llm.stream([{"role": "user", "content": "Hi"}], max_tokens=8))  # doctest: +SKIP
    """

    def __init__(self, path: Path, n_ctx: int = 2048, threads: int | None = None):
        force_offline()
        from llama_cpp import Llama

        self.path = Path(path)
        self.lock = threading.Lock()  # one generation at a time per model instance
        self.model = Llama(
            model_path=str(path), n_ctx=n_ctx, n_threads=threads or os.cpu_count() or 1,
            n_batch=512, verbose=False, seed=0,
        )

    @property
    def name(self) -> str:
        return self.path.name

    def count_tokens(self, text: str) -> int:
        return len(self.model.tokenize(text.encode("utf-8"), add_bos=False))

    def count_prompt(self, messages: list[dict]) -> int:
        """Prompt tokens of a chat request (message texts plus a few per message for the template)."""
        return sum(self.count_tokens(m["content"]) + 4 for m in messages)

    def stream(self, messages: list[dict], max_tokens: int = 160, stop: list[str] | None = None) -> Iterator[str]:
        with self.lock:
            for part in self.model.create_chat_completion(
                messages=messages, max_tokens=max_tokens, temperature=0.0, top_k=1,
                repeat_penalty=1.05, stream=True, stop=stop,
            ):
                delta = part["choices"][0]["delta"].get("content")
                if delta:
                    yield delta

    def complete(self, messages: list[dict], max_tokens: int = 160, stop: list[str] | None = None) -> str:
        return "".join(self.stream(messages, max_tokens=max_tokens, stop=stop))


@lru_cache(maxsize=2)
def get_llm(path: str, n_ctx: int = 2048, threads: int | None = None) -> LLM:
    """One instance per model file per process: loading a 1 GB model twice would waste seconds."""
    return LLM(Path(path), n_ctx=n_ctx, threads=threads)
