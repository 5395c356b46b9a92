"""How much the keyword ranking should weigh against the dense one (settings.keyword_weight).

    .venv/bin/python eval/fusion_sweep.py --split dev
    .venv/bin/python eval/fusion_sweep.py --split seen --weights 1,2,3

Retrieval only (no model, about a minute): each question is searched once per retriever
and the two rankings are fused at each weight, so the rows differ only by the weight.
Prints recall@5 and MRR of the gold agenda items per weight; "keyword" is BM25 alone.
Only dev and seen are for choosing the weight; the frozen split is reported by `rag eval`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag import evaluate
from rag.ingest import Corpus
from rag.retrieve import Retriever
from rag.settings import load_settings
from rag.store import Filters


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=["dev", "seen"], default="dev")
    ap.add_argument("--weights", default="1,1.5,2,3,5", help="keyword weights to try, comma-separated")
    ap.add_argument("--k", type=int, default=5)
    args = ap.parse_args()
    questions = [q for f in evaluate.split_files(args.split, None) for q in evaluate.load_questions(f)]
    questions = [q for q in questions if q.gold]
    settings = load_settings()
    if evaluate.needs_other_minutes(questions, Path(settings.corpus_dir)):
        settings = settings.with_overrides(index_dir=Path(settings.index_dir) / "eval-wide")
    corpus = Corpus.open(settings)
    if not corpus.store.chunks_matching():
        print(f"error: no index at {settings.index_dir}; run `rag eval --split {args.split}` once first",
              file=sys.stderr)
        return 2
    rankings = []
    plain = Retriever(corpus, settings)
    for q in questions:
        others = corpus.aliases().expand(q.question)
        with corpus.lock:
            dense = plain.dense(q.question, settings.candidates, Filters())
            keyword = plain.keyword(" ".join([q.question, *others]), settings.candidates, Filters())
        rankings.append((q, dense, keyword))
    rows = [(w, float(w)) for w in args.weights.split(",")] + [("keyword", None)]
    print(f"{'keyword weight':>15} {'recall@' + str(args.k):>9} {'MRR':>6}   ({len(questions)} {args.split} questions)")
    for label, weight in rows:
        fuse = Retriever(corpus, replace(settings, keyword_weight=weight or 1.0))
        recalls, rrs = [], []
        for q, dense, keyword in rankings:
            hits = fuse._fuse([] if weight is None else dense, keyword, 10,
                              "hybrid" if weight is not None else "keyword")
            refs = [h.ref() | {"text": h.item_text} for h in hits]
            found = [any(evaluate.matches_gold(r, g) for r in refs[:args.k]) for g in q.gold]
            recalls.append(sum(found) / len(q.gold))
            rank = next((i for i, r in enumerate(refs, 1) if any(evaluate.matches_gold(r, g) for g in q.gold)), None)
            rrs.append(1 / rank if rank else 0.0)
        print(f"{label:>15} {statistics.mean(recalls):9.3f} {statistics.mean(rrs):6.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
