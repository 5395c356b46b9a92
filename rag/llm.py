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

    def __init__(self, path: Path, n_ctx: int = 2048, threads: int | None = None, flash_attn: bool = False,
                 draft_tokens: int = 0):
        force_offline()

        self.path = Path(path)
        self.lock = threading.Lock()  # one generation at a time per model instance
        self.draft = PromptLookup(draft_tokens) if draft_tokens > 0 else None
        # logits_all sizes llama-cpp-python's logits array for checking drafts at any
        # position (2048 x 152k floats, allocated lazily: only checked rows are written).
        self.model = _llama_class()(
            model_path=str(path), n_ctx=n_ctx, n_threads=threads or os.cpu_count() or 1,
            n_batch=512, verbose=False, seed=0, flash_attn=flash_attn,
            logits_all=self.draft is not None, draft_model=self.draft,
        )
        self.flash_attn = flash_attn
        self._format = None      # the chat template (yes_probability, _reuse_only_system)
        self._yes_no: tuple[list[int], list[int]] = ([], [])
        self._system_tokens: dict[str, list[int]] = {}   # system prompt -> its tokens, formatted

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def variant(self) -> str:
        """The model and the settings that change its output (flash attention rounds
        differently; answers before the prompt's cache was fixed at its system message could
        depend on the question before): the key under which an evaluation remembers them."""
        return (self.name + ("+flash-attn" if self.flash_attn else "") + "+system-cache"
                + (f"+lookup{self.draft.tokens}" if self.draft else ""))

    def count_tokens(self, text: str) -> int:
        return len(self.model.tokenize(text.encode("utf-8"), add_bos=False))

    def count_prompt(self, messages: list[dict]) -> int:
        """Prompt tokens of a chat request (message texts plus a few per message for the template)."""
        return sum(self.count_tokens(m["content"]) + 4 for m in messages)

    def stream(self, messages: list[dict], max_tokens: int = 160, stop: list[str] | None = None) -> Iterator[str]:
        with self.lock:
            # Answer prompts draft from their passages; the tutorial baseline decodes as
            # llama-cpp-python does by default, so its figures stay comparable.
            self.model.draft_model = self.draft if self._reuse_only_system(messages) else None
            for part in self.model.create_chat_completion(
                messages=messages, max_tokens=max_tokens, temperature=0.0, top_k=1,
                repeat_penalty=1.05, stream=True, stop=stop,
            ):
                delta = part["choices"][0]["delta"].get("content")
                if delta:
                    yield delta

    def complete(self, messages: list[dict], max_tokens: int = 160, stop: list[str] | None = None) -> str:
        return "".join(self.stream(messages, max_tokens=max_tokens, stop=stop))

    def _formatter(self):
        """The model's chat template as a function of messages (None when it has none)."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        if self._format is None and self.model.metadata.get("tokenizer.chat_template"):
            template = self.model.metadata["tokenizer.chat_template"]
            eos = self.model.detokenize([self.model.token_eos()]).decode(errors="ignore")
            self._format = Jinja2ChatFormatter(template, eos_token=eos, bos_token="")
        return self._format

    def _reuse_only_system(self, messages: list[dict]) -> bool:
        """Start every prompt from the cache of its system message alone.

        llama-cpp-python reuses whatever prefix the last prompt shares with this one and
        evaluates only the rest, in batches counted from there. Where the batches fall changes
        the kernels that run and so the rounding, and a greedy answer can follow the rounding:
        on dev, one prompt answered "The minutes provided do not say." or "£4,528.60p [1]"
        depending on the question asked before it. Evaluated from the same point every time
        (the system message, evaluated alone, the same for every answer), a prompt gets the
        same answer whatever came before it, at the cost of re-reading the rare user text two
        prompts in a row share. True when the prompt has a system message (an answer prompt)."""
        if not (messages and messages[0].get("role") == "system" and self._formatter()):
            return False   # (the tutorial baseline, which has no system message, reuses as llama does)
        key = messages[0]["content"]
        if key not in self._system_tokens:   # one system prompt in use at a time
            text = self._format(messages=messages[:1] + [{"role": "user", "content": ""}]).prompt
            self._system_tokens = {key: self.model.tokenize(text.encode(), add_bos=False, special=True)}
        head = self._system_tokens[key]
        full = self.model.tokenize(self._format(messages=messages).prompt.encode(), add_bos=False, special=True)
        keep = 0
        while keep < min(len(head), len(full) - 1) and head[keep] == full[keep]:
            keep += 1
        if self.model.n_tokens < keep or self.model.input_ids[:keep].tolist() != full[:keep]:
            self.model.reset()
            self.model.eval(full[:keep])
        self.model.n_tokens = keep
        return True

    def yes_probability(self, messages: list[dict]) -> float:
        """P(the reply starts "Yes") against "No", from the logits of the reply's first token:
        a graded verdict for a yes/no check, at the cost of one prompt evaluation."""
        import numpy as np
        from llama_cpp import llama_get_logits_ith

        if not self.model.metadata.get("tokenizer.chat_template"):
            return greedy_yes(self, messages)
        with self.lock:
            if not self._yes_no[0]:
                self._formatter()
                first = lambda t: self.model.tokenize(t.encode(), add_bos=False)[0]  # noqa: E731
                self._yes_no = ([first(t) for t in ("Yes", " Yes", "yes")], [first(t) for t in ("No", " No", "no")])
            prompt = self._format(messages=messages).prompt
            tokens = self.model.tokenize(prompt.encode(), add_bos=False, special=True)
            # The cache holds the answer prompts' shared prefix (the system prompt); keep it
            # for the next question rather than make it evaluate that prefix again.
            with _KeptCache(self.model):
                self.model.reset()
                self.model.eval(tokens)
                logits = np.ctypeslib.as_array(llama_get_logits_ith(self.model._ctx.ctx, -1),
                                               shape=(self.model.n_vocab(),))
                yes, no = (np.logaddexp.reduce(logits[ids]) for ids in self._yes_no)
            return float(1.0 / (1.0 + np.exp(no - yes)))


class PromptLookup:
    """Drafts the next tokens by finding the answer's last words in the prompt (prompt-lookup
    decoding): llama-cpp-python's draft-model interface (``Llama(draft_model=...)``).

    Answers repeat the passages' names, sums and dates, so the words that followed the same
    two or three tokens in the prompt are often the next ones. The model checks a draft in
    one batch, which on 2 cores costs about 1.3x one token for 4 tokens, and keeps the
    tokens that greedy decoding would have chosen, so the answer is the same (up to
    rounding). llama-cpp-python's own LlamaPromptLookupDecoding also drafts after a single
    matching token, ten tokens at a time: replayed over the dev split's answers with the
    measured batch costs, it would spend 0.85 of token-by-token decoding's time, this 0.62.
    Measured on 30 dev questions asked both ways in one run, decoding took 0.81 of the time
    and the whole ask's median went from 7.9 s to 7.0 s; 27 of the 30 answers were identical.

    >>> PromptLookup(3)(np.array([5, 6, 7, 8, 1, 5, 6]))   # doctest: +SKIP
    array([7, 8, 1])
    """

    # Longest and shortest run of the answer's last tokens looked up in the prompt.
    NGRAMS = (3, 2)

    def __init__(self, tokens: int):
        self.tokens = tokens

    def __call__(self, input_ids, /, **kwargs):
        import numpy as np

        ids = np.asarray(input_ids)
        for n in self.NGRAMS:
            if len(ids) <= n:
                continue
            windows = np.lib.stride_tricks.sliding_window_view(ids[:-1], n)
            hits = np.nonzero(np.all(windows == ids[-n:], axis=1))[0]
            if len(hits):
                start = hits[-1] + n          # the latest earlier occurrence
                return ids[start:start + self.tokens].astype(np.intc)
        return np.array([], dtype=np.intc)


@lru_cache(maxsize=1)
def _llama_class():
    """llama_cpp.Llama, computing every position's logits only for the short batches that
    check a draft: a prompt needs only its last position's, and computing and copying all
    of them (800 x 152k floats) would cost more than drafting saves."""
    from llama_cpp import Llama

    class _Llama(Llama):
        def eval(self, tokens):
            draft = self.draft_model
            self._logits_all = draft is not None and len(tokens) <= draft.tokens + 1
            super().eval(tokens)

    return _Llama


class _KeptCache:
    """Puts back the model's KV cache and token history after a side evaluation.

    Copies only the cache of the tokens in it (about 28 KB a token for the 1.5B model).
    llama-cpp-python's save_state/load_state also copy its 300 MB logits buffer, which
    cost 1.2 s per check on 2 cores for nothing: sampling reads the context's logits."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        import ctypes
        import llama_cpp

        ctx = self.model._ctx.ctx
        self.n_tokens = self.model.n_tokens
        self.ids = self.model.input_ids[: self.n_tokens].copy()
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        self.buf = (ctypes.c_uint8 * size)()
        self.size = llama_cpp.llama_state_seq_get_data(ctx, self.buf, size, 0)
        return self

    def __exit__(self, *exc):
        import llama_cpp

        ctx = self.model._ctx.ctx
        self.model._ctx.kv_cache_seq_rm(-1, 0, -1)
        restored = self.n_tokens == 0 or llama_cpp.llama_state_seq_set_data(ctx, self.buf, self.size, 0) == self.size
        if restored:
            self.model.input_ids[: self.n_tokens] = self.ids
            self.model.n_tokens = self.n_tokens
        else:   # the cache is gone: the next prompt is evaluated whole, as after reset()
            self.model.n_tokens = 0
        return False


def greedy_yes(llm, messages: list[dict]) -> float:
    """1.0 if the greedy reply starts "Yes", else 0.0: the verdict of a yes/no check where
    the first token's probabilities cannot be read."""
    return 1.0 if llm.complete(messages, max_tokens=2).strip().lower().startswith("yes") else 0.0


_load_lock = threading.Lock()


def get_llm(path: str, n_ctx: int = 2048, threads: int | None = None, flash_attn: bool = False,
            draft_tokens: int = 0) -> LLM:
    """One instance per model file per process: loading a 1 GB model twice would waste seconds.
    Locked, so a background preload and the question that needs the model share one load."""
    with _load_lock:
        return _cached_llm(path, n_ctx, threads, flash_attn, draft_tokens)


@lru_cache(maxsize=2)
def _cached_llm(path: str, n_ctx: int, threads: int | None, flash_attn: bool, draft_tokens: int) -> LLM:
    return LLM(Path(path), n_ctx=n_ctx, threads=threads, flash_attn=flash_attn, draft_tokens=draft_tokens)


class RemoteLLM:
    """Any OpenAI-compatible chat-completions server (vLLM, llama.cpp's server, Ollama, a hosted
    API): same interface as LLM, streamed, greedy (temperature 0, seed 0).

    >>> llm = RemoteLLM("http://127.0.0.1:8000", "qwen2.5-7b-instruct")        # doctest: +SKIP
    >>> llm.complete([{"role": "user", "content": "Hi"}], max_tokens=8)      # doctest: +SKIP
    """

    def __init__(self, url: str, model: str | None = None, timeout: float = 120.0, api_key: str | None = None):
        self.url = url.rstrip("/")
        if not self.url.endswith("/v1"):
            self.url += "/v1"
        self.model = model or "default"
        self.timeout = timeout
        self.api_key = api_key or os.environ.get("RAG_LLM_API_KEY") or os.environ.get("OPENAI_API_KEY")
        self.extras = True    # send top_k / repeat penalty until a server refuses them

    @property
    def name(self) -> str:
        return f"{self.model} at {self.url}"

    def count_tokens(self, text: str) -> int:
        """An estimate (4 characters a token): a generic server has no tokenizer endpoint."""
        return max(1, len(text) // 4)

    def count_prompt(self, messages: list[dict]) -> int:
        return sum(self.count_tokens(m["content"]) + 4 for m in messages)

    def stream(self, messages: list[dict], max_tokens: int = 160, stop: list[str] | None = None) -> Iterator[str]:
        import json
        import socket
        import urllib.error
        import urllib.request

        from .models import ModelError

        body = {"model": self.model, "messages": messages, "max_tokens": max_tokens, "temperature": 0.0,
                "seed": 0, "stream": True}
        if self.extras:
            # The in-process settings (greedy, the same repeat penalty), under the names
            # llama.cpp's server and vLLM read, so the same model gives the same answer.
            body.update(top_k=1, repeat_penalty=1.05, repetition_penalty=1.05)
        if stop:
            body["stop"] = stop
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(f"{self.url}/chat/completions", data=json.dumps(body).encode(),
                                         headers=headers, method="POST")
        try:
            response = urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:200].replace("\n", " ")
            if exc.code in (400, 422) and self.extras:
                # A strict OpenAI endpoint that refuses the extra sampling names: plain request.
                self.extras = False
                yield from self.stream(messages, max_tokens=max_tokens, stop=stop)
                return
            raise ModelError(f"the model server at {self.url} refused the request (HTTP {exc.code}: {detail})") from None
        except (urllib.error.URLError, socket.timeout, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ModelError(f"the model server at {self.url} is not answering ({reason}); start it, "
                             "or unset RAG_LLM_URL / drop --llm-url to use the local model") from None
        with response:
            try:
                for raw in response:
                    line = raw.decode("utf-8", errors="replace").strip()
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    try:
                        choice = json.loads(data)["choices"][0]
                    except (ValueError, KeyError, IndexError):
                        continue
                    delta = (choice.get("delta") or {}).get("content")
                    if delta:
                        yield delta
            except (socket.timeout, TimeoutError):
                raise ModelError(f"the model server at {self.url} stopped answering "
                                 f"(no data for {self.timeout:.0f} s)") from None

    def complete(self, messages: list[dict], max_tokens: int = 160, stop: list[str] | None = None) -> str:
        return "".join(self.stream(messages, max_tokens=max_tokens, stop=stop))

    def yes_probability(self, messages: list[dict]) -> float:
        """greedy_yes(): servers differ in whether they return log-probabilities, so none
        are asked for."""
        return greedy_yes(self, messages)


class RememberedLLM:
    """Any model above, with its answers kept in a SQLite file keyed by the exact request.

    For evaluation only: decoding is greedy, so the same prompt gives the same answer, and an
    ablation run that changes a few prompts regenerates only those (minutes, not half an
    hour). Timings of remembered answers mean nothing, so reports say how many there were.

    >>> llm = RememberedLLM(get_llm(path), Path("/tmp/gen.sqlite"))   # doctest: +SKIP
    """

    def __init__(self, inner, path: Path):
        import sqlite3

        self.inner = inner
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(self.path), check_same_thread=False)
        self.db.execute("CREATE TABLE IF NOT EXISTS generations (key TEXT PRIMARY KEY, text TEXT NOT NULL)")
        self.hits = 0
        self.misses = 0

    @property
    def name(self) -> str:
        return self.inner.name

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def count_prompt(self, messages: list[dict]) -> int:
        return self.inner.count_prompt(messages)

    def _key(self, messages, max_tokens, stop) -> str:
        import hashlib
        import json

        request = json.dumps([getattr(self.inner, "variant", self.inner.name), messages, max_tokens, stop],
                             sort_keys=True)
        return hashlib.sha256(request.encode()).hexdigest()

    def stream(self, messages: list[dict], max_tokens: int = 160, stop: list[str] | None = None) -> Iterator[str]:
        key = self._key(messages, max_tokens, stop)
        row = self.db.execute("SELECT text FROM generations WHERE key = ?", (key,)).fetchone()
        if row is not None:
            self.hits += 1
            yield row[0]
            return
        self.misses += 1
        parts = []
        for piece in self.inner.stream(messages, max_tokens=max_tokens, stop=stop):
            parts.append(piece)
            yield piece
        with self.db:   # only a whole answer is kept
            self.db.execute("INSERT OR REPLACE INTO generations VALUES (?, ?)", (key, "".join(parts)))

    def complete(self, messages: list[dict], max_tokens: int = 160, stop: list[str] | None = None) -> str:
        return "".join(self.stream(messages, max_tokens=max_tokens, stop=stop))

    def yes_probability(self, messages: list[dict]) -> float:
        key = self._key(messages, "yes_probability", None)
        row = self.db.execute("SELECT text FROM generations WHERE key = ?", (key,)).fetchone()
        if row is not None:
            self.hits += 1
            return float(row[0])
        self.misses += 1
        p = self.inner.yes_probability(messages)
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO generations VALUES (?, ?)", (key, repr(p)))
        return p
