"""Names a matter goes by, learnt from the minutes themselves: renamings and acronyms.

Minutes rename things ("domestic abuse-related death reviews (previously known as domestic
homicide reviews)") and shorten them ("DArDR"). A question that uses one name should find
the items that use the others, and a "what happened to X" account should follow X through
its renaming. Two general sources, no list of known names:

* renaming phrases: "X (previously known as Y)", "X, formerly Y", "X, now called Y",
  "renamed (from Y) to X";
* acronyms: a token like "DArDR" or "DHRs" whose letters are the initials of a phrase in the
  same document ("Domestic Abuse Related Death Review", hyphenated words counting apart).

Names joined by either are one group; ``expand`` adds a question's other names to it.

>>> a = Aliases.learn(["Domestic Abuse related Death Reviews. Work on domestic abuse-related "
...                    "death reviews (previously known as domestic homicide reviews) and the DArDR post."])
>>> sorted(a.names_for("dardr"))
['domestic abuse related death review', 'domestic homicide review']
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Words that end a noun phrase when reading back from "(previously known as ...".
_STOP = set("""a an the of on in at to for from by with about around regarding concerning and or
but as is was were be been being this that these those which who whom whose its their his her
our your we they he she it had has have not no also into onto upon over under between through
during before after than then so such report reports update updates considered received noted
work undertaken""".split())
RENAMED = re.compile(
    r"(?P<new>[\w’'&-]+(?:\s+[\w’'&-]+){0,7}?)\s*(?:\(|,|–|-)\s*(?:previously|formerly)"
    r"(?:\s+(?:known\s+as|called|named|titled))?\s+(?:the\s+)?(?P<old>[\w’'&\s-]{3,80}?)\s*(?:\)|,|\.|;|$)"
    r"|renamed\s+(?:from\s+(?:the\s+)?(?P<old2>[\w’'&\s-]{3,60}?)\s+)?(?:to|as)\s+(?:the\s+)?"
    r"(?P<new2>[\w’'&\s-]{3,60}?)\s*(?:\)|,|\.|;|$)",
    re.I)
ACRONYM = re.compile(r"\b(?=[A-Za-z]*[A-Z][A-Za-z]*[A-Z])[A-Za-z]{3,8}?(?:s)?\b")


def norm(name: str) -> str:
    """Lower case, hyphens as spaces, a plural 's' dropped from the last word."""
    words = re.sub(r"[-–’']", " ", name.lower()).split()
    if words and len(words[-1]) > 3 and words[-1].endswith("s") and not words[-1].endswith("ss"):
        words[-1] = words[-1][:-1]
    return " ".join(words)


def _name_like(phrase: str) -> bool:
    """A name is a few words, hardly any of them function words ("a year to address ..." is not)."""
    words = phrase.split()
    return 1 <= len(words) <= 6 and sum(w.lower() in _STOP for w in words) <= 1


def _noun_phrase(words: list[str]) -> str:
    """The trailing noun phrase of a run of words: read back until a function word."""
    out: list[str] = []
    for w in reversed(words):
        if w.lower().strip("’'") in _STOP or not re.search(r"[A-Za-z]", w):
            break
        out.append(w)
    return " ".join(reversed(out[:7]))


class Aliases:
    def __init__(self, groups: list[set[str]]):
        self.groups = [g for g in groups if len(g) > 1]
        self.index: dict[str, int] = {}
        for i, g in enumerate(self.groups):
            for name in g:
                self.index[name] = i

    @classmethod
    def learn(cls, texts: Iterable[str]) -> "Aliases":
        pairs: list[tuple[str, str]] = []
        for text in texts:
            flat = " ".join(text.split())
            for m in RENAMED.finditer(flat):
                new = m.group("new") or m.group("new2") or ""
                old = m.group("old") or m.group("old2") or ""
                new = _noun_phrase(new.split()) if m.group("new") else new
                if _name_like(new) and _name_like(old):
                    pairs.append((norm(new), norm(old)))
            pairs += _acronyms(flat)
        return cls(_union(pairs))

    def to_json(self) -> list[list[str]]:
        return [sorted(g) for g in self.groups]

    @classmethod
    def from_json(cls, groups: list[list[str]]) -> "Aliases":
        return cls([set(g) for g in groups])

    def names_for(self, name: str) -> set[str]:
        """The other names of ``name`` (normalised), or an empty set."""
        i = self.index.get(norm(name))
        return set() if i is None else self.groups[i] - {norm(name)}

    def expand(self, question: str) -> list[str]:
        """Other names of whatever the question names: words to add to its search."""
        low = " " + " ".join(re.sub(r"[-–’'?,.!()]", " ", question.lower()).split()) + " "
        found: list[str] = []
        for name, i in self.index.items():
            variants = {name, name + "s"}
            if any(f" {v} " in low for v in variants):
                found += sorted(self.groups[i] - {name})
        return list(dict.fromkeys(found))


def _acronyms(text: str) -> list[tuple[str, str]]:
    """(acronym, phrase) for acronyms whose letters are the initials of a phrase in the text:
    consecutive words (spaces or hyphens between them), each starting with a capital where
    the acronym has one and with a small letter where it has one ("DArDR" = "Domestic Abuse
    related Death Review"; "DHRs" = "Domestic Homicide Reviews")."""
    out = []
    tokens = list(re.finditer(r"[A-Za-z]+", text))
    # Where each first letter starts a word: an acronym's phrase can only start there.
    starts: dict[str, list[int]] = {}
    for i, t in enumerate(tokens):
        starts.setdefault(t.group()[0], []).append(i)
    for token in set(ACRONYM.findall(text)):
        letters = token[:-1] if token.endswith("s") and token[:-1].upper() == token[:-1] else token
        n = len(letters)
        if n < 3:
            continue
        for start in starts.get(letters[0], []):
            if start > len(tokens) - n:
                break
            span = tokens[start:start + n]
            words = [t.group() for t in span]
            if words[0] == token or any(len(w) < 2 for w in words):
                continue
            if any(w[0].lower() != c.lower() or w[0].isupper() != c.isupper() for w, c in zip(words, letters)):
                continue
            joins = [text[a.end():b.start()] for a, b in zip(span, span[1:])]
            if all(re.fullmatch(r" |-|- | -", j) for j in joins):
                out.append((norm(token), norm(" ".join(words))))
                break
    return out


def _union(pairs: list[tuple[str, str]]) -> list[set[str]]:
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        if a and b and a != b:
            parent[find(a)] = find(b)
    groups: dict[str, set[str]] = {}
    for x in list(parent):
        groups.setdefault(find(x), set()).add(x)
    return list(groups.values())
