"""The peer to beat: a tutorial-style RAG with the same models.

Fixed 1,000-character chunks with 100 overlap over the raw files, the top 4 dense
chunks, a plain "answer from the context or say you don't know" prompt. No agenda
items, no keyword search, no citation checking.
"""

from __future__ import annotations

import time
from pathlib import Path

import faiss

from .answer import is_abstention
from .embed import get_embedder
from .load import SUPPORTED, LoadError, load_text
from .settings import Settings


class TutorialRAG:
    def __init__(self, settings: Settings, llm, corpus_dir: Path | list[Path] | None = None):
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        self.llm = llm
        self.template = (Path(settings.prompts_dir) / "tutorial.txt").read_text()
        splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=100)
        self.chunks: list[str] = []
        folders = corpus_dir if isinstance(corpus_dir, list) else [corpus_dir or settings.corpus_dir]
        for f in sorted(f for folder in folders for f in folder.iterdir()):
            if f.suffix.lower() in SUPPORTED and not f.name.lower().startswith("readme"):
                try:
                    self.chunks += splitter.split_text(load_text(f))
                except LoadError:
                    continue
        vectors = get_embedder().encode(self.chunks)
        self.index = faiss.IndexFlatIP(vectors.shape[1])
        self.index.add(vectors)

    def ask(self, question: str) -> dict:
        t = time.perf_counter()
        qv = get_embedder().encode([question])
        _, ids = self.index.search(qv, 4)
        context = "\n\n".join(self.chunks[i] for i in ids[0] if i != -1)
        prompt = self.template.format(context=context, question=question)
        first = None
        parts = []
        for piece in self.llm.stream([{"role": "user", "content": prompt}], max_tokens=160):
            if first is None:
                first = time.perf_counter() - t
            parts.append(piece)
        answer = "".join(parts).strip()
        declined = is_abstention(answer) or "don't know" in answer.lower()
        return {"question": question, "answer": answer, "abstained": declined, "citations": [],
                "has_citations": False, "seconds": time.perf_counter() - t,
                "timings_ms": {"first_token": (first or 0) * 1000}}
