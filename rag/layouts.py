"""Item-boundary precision and recall against hand-written agenda items (tests/layouts/).

Each real minutes document there has a ``.truth.json`` with its meetings and their items,
written by reading the document. A found item matches a true one when it opens with the
true title (compared on letters and digits, first 40 characters, or on most of the first
eight words); matches are aligned in order, so an item found twice counts once.

    rag eval --layouts          # the per-document tables (layout set, then held-out set)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from .settings import PROJECT_ROOT

LAYOUT_DIR = PROJECT_ROOT / "tests" / "layouts"
# Gathered after the segmenter was written and scored before any change looked at them.
HOLDOUT_DIR = PROJECT_ROOT / "tests" / "layouts-holdout"
# Gathered in session 18 to tune on: eight more bodies' minutes.
DEV2_DIR = PROJECT_ROOT / "tests" / "layouts-dev2"
# Gathered with the questions of the frozen2 split, scored once, never tuned on.
FROZEN2_DIR = PROJECT_ROOT / "tests" / "layouts-frozen2"


def norm(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())


def _matches(truth_title: str, found_title: str, found_text: str) -> bool:
    t = norm(truth_title)
    if not t:
        return False
    head = norm(found_title)
    opening = norm(found_text[:400])
    if head and (head.startswith(t[:40]) or t.startswith(head[:40]) and len(head) >= 12):
        return True
    if opening.startswith(t[:40]) or t[:40] in opening[:120]:
        return True
    words = t.split()[:8]
    hit = sum(w in opening.split()[:30] for w in words)
    return len(words) >= 2 and hit >= 0.75 * len(words)


def _title_right(truth_title: str, found_title: str) -> bool:
    t, f = norm(truth_title), norm(found_title.rstrip("…"))
    if not t or not f:
        return False
    if t == f or (t.startswith(f) and len(f) >= 0.6 * len(t)) or (f.startswith(t) and len(t) >= 0.6 * len(f)):
        return True
    tw, fw = set(t.split()), set(f.split())
    return len(tw & fw) / len(tw | fw) >= 0.7


def align(truth: list[str], found: list[tuple[str, str]]) -> list[tuple[int, int]]:
    """Largest in-order matching of true titles to found (title, text) items (LCS)."""
    n, m = len(truth), len(found)
    ok = [[_matches(truth[i], *found[j]) for j in range(m)] for i in range(n)]
    dp = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            dp[i][j] = max(dp[i + 1][j], dp[i][j + 1], dp[i + 1][j + 1] + 1 if ok[i][j] else 0)
    pairs, i, j = [], 0, 0
    while i < n and j < m:
        if ok[i][j] and dp[i][j] == dp[i + 1][j + 1] + 1:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif dp[i + 1][j] >= dp[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


@dataclass
class LayoutScore:
    file: str
    format: str
    body: str
    truth: int
    found: int
    matched: int
    titles_right: int
    dates_right: bool
    single_item: bool       # the whole document became one item

    @property
    def precision(self) -> float:
        return self.matched / self.found if self.found else 0.0

    @property
    def recall(self) -> float:
        return self.matched / self.truth if self.truth else 0.0

    @property
    def title_accuracy(self) -> float:
        return self.titles_right / self.matched if self.matched else 0.0


def score_document(truth_file: Path) -> LayoutScore:
    from .parse import parse_file

    truth = json.loads(truth_file.read_text())
    path = truth_file.with_name(truth["file"])
    items = [it for it in parse_file(path) if it.kind != "header"]
    true_titles = [i["title"] for m in truth["meetings"] for i in m["items"]]
    found = [(it.title, it.body) for it in items]
    pairs = align(true_titles, found)
    titles = sum(_title_right(true_titles[i], items[j].title) for i, j in pairs)
    true_dates = {m["date"] for m in truth["meetings"]}
    found_dates = {it.meeting_date for it in items}
    return LayoutScore(
        file=truth["file"], format=truth.get("format", path.suffix.lstrip(".")), body=truth.get("body", ""),
        truth=len(true_titles), found=len(found), matched=len(pairs), titles_right=titles,
        dates_right=found_dates == true_dates, single_item=len(found) <= 1 < len(true_titles))


def score_all(folder: Path = LAYOUT_DIR) -> list[LayoutScore]:
    return [score_document(f) for f in sorted(folder.glob("*.truth.json"))]


def totals(scores: list[LayoutScore]) -> dict:
    found = sum(s.found for s in scores)
    truth = sum(s.truth for s in scores)
    matched = sum(s.matched for s in scores)
    return {"documents": len(scores), "truth": truth, "found": found, "matched": matched,
            "precision": matched / found if found else 0.0, "recall": matched / truth if truth else 0.0,
            "title_accuracy": sum(s.titles_right for s in scores) / matched if matched else 0.0,
            "dates_right": sum(s.dates_right for s in scores)}


def report(scores: list[LayoutScore]) -> str:
    lines = [f"{'document':52} {'fmt':4} {'true':>4} {'found':>5} {'P':>5} {'R':>5} {'title':>5} date"]
    for s in scores:
        lines.append(f"{s.file[:52]:52} {s.format:4} {s.truth:4} {s.found:5} {s.precision:5.2f} "
                     f"{s.recall:5.2f} {s.title_accuracy:5.2f} {'ok' if s.dates_right else 'WRONG'}")
    t = totals(scores)
    lines.append(f"{'overall':52} {'':4} {t['truth']:4} {t['found']:5} {t['precision']:5.2f} "
                 f"{t['recall']:5.2f} {t['title_accuracy']:5.2f} {t['dates_right']}/{t['documents']}")
    return "\n".join(lines)
