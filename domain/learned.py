"""A classifier learned at build time from the labelled tuning reports: what the word matcher
asks when no item's words name a report surely (domain/classification.py).

A multinomial naive Bayes over the report's letters two at a time (character bigrams) and its
jieba words of two characters or more, the title's counted twice. It is trained by
`make classifier` (bench/train_classifier.py) on tests/data/needs_tune.yaml only (never the
held-out part) and written to domain/models/ as JSON; a policy names the file and the first 16 hex digits of
its sha256 (`classification.learned`), so a need decided under a policy replays with the same
model on every worker. Nothing is downloaded: the model is a file of this package.

Why not a library: the model runs inside workflow code (it must replay bit for bit and load
without I/O beyond this package's own file), it is counting and adding logarithms, and
scikit-learn with numpy and scipy would be ~100 MB in every worker for that. docs/intake.md,
section 3, has the figures that decided how it is used.
"""

from __future__ import annotations

import hashlib
import json
import math
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from itertools import pairwise

from domain.text import normalise, words

FORMAT = 1
TITLE_WEIGHT = 2
ALPHA = 0.03
"""Additive smoothing, chosen with MAX_ITEMS by five-fold cross-validation on the tuning part
(2026-12-06, 510 reports): items right 0.902 at 0.01, 0.908 at 0.03, 0.902 at 0.1."""
MAX_ITEMS = 5
"""A feature that stands in the reports of more items tells no item apart (一下, 反映, 帮忙,
问题): it is left out, so a report made only of such words gets no guess, or a weak one, and
goes to the dispatcher. Same cross-validation: 0.908 at 5, 0.906 at 4, 0.904 at 6, 0.884
with every feature; guesses of 0.923 and more (what the policy's confidence 0.65 lets through
a threshold of 0.6) right 0.968 of the time (436 of 510). Leaving out the features of a single
report instead lost accuracy (0.851)."""
MODELS = "domain.models"


class ModelError(ValueError):
    """A policy names a model this package does not hold, or one whose digest differs."""


@dataclass(frozen=True)
class Guess:
    item: str
    probability: float
    features: tuple[str, ...]  # what spoke most for the item: words ('w:…') first, then pairs
    support: int  # how many of the report's features the item's training reports had


@dataclass(frozen=True)
class Model:
    items: tuple[str, ...]
    prior: tuple[float, ...]  # log P(item)
    unseen: tuple[float, ...]  # log P(feature | item) of a known feature never seen with it
    seen: Mapping[str, Mapping[int, float]]  # feature -> item index -> log P - unseen

    def guess(self, title: str, body: str, allowed: Iterable[str] | None = None) -> Guess | None:
        """The likeliest item among `allowed` (all if None) and its probability among them;
        None when the report shares no feature with the training reports.

        Naive Bayes counts every feature as independent evidence, so its posterior is near 1
        for almost any report; the log-likelihoods are divided by the square root of the
        number of features before the softmax. In five-fold cross-validation on the tuning
        reports (510, 2026-12-06, every feature kept), guesses of 0.923 and more were right
        0.97 of the time (422), those below 0.45 (88); untempered, 500 of 510 were above
        0.923, right 0.90."""
        counts = features(title, body)
        known = {f: n for f, n in counts.items() if f in self.seen}
        if not known:
            return None
        wanted = set(self.items if allowed is None else allowed)
        total = sum(known.values())
        scores: dict[int, float] = {
            i: self.prior[i] + total * self.unseen[i]
            for i, item in enumerate(self.items)
            if item in wanted
        }
        if not scores:
            return None
        for feature, n in known.items():
            for i, lift in self.seen[feature].items():
                if i in scores:
                    scores[i] += n * lift
        best = max(scores, key=lambda i: (scores[i], -i))
        top, temper = scores[best], math.sqrt(total)
        probability = 1.0 / sum(math.exp((s - top) / temper) for s in scores.values())
        # what a person can read first: whole words, then letter pairs, each the strongest first
        speaking = sorted(
            (f for f in known if best in self.seen[f]),
            key=lambda f: (not f.startswith("w:"), -known[f] * self.seen[f][best], f),
        )
        return Guess(
            self.items[best], round(probability, 4), tuple(speaking[:3]), support=len(speaking)
        )


def features(title: str, body: str) -> Counter[str]:
    """Character bigrams (letters only: no digits, punctuation or spaces) and jieba words of
    two characters or more, of the title (counted TITLE_WEIGHT times) and the body."""
    found: Counter[str] = Counter()
    for part, weight in ((title, TITLE_WEIGHT), (body, 1)):
        letters = [ch for ch in normalise(part) if unicodedata.category(ch)[0] == "L"]
        for a, b in pairwise(letters):
            found[a + b] += weight
        for _, word in words(part):
            word = word.strip()
            if len(word) >= 2 and all(unicodedata.category(ch)[0] == "L" for ch in word):
                found["w:" + word] += weight
    return found


def train(
    reports: Iterable[tuple[str, str, str]],
    alpha: float = ALPHA,
    max_items: int = MAX_ITEMS,
) -> dict[str, object]:
    """The model, as the JSON document `load` reads, of (title, body, item) reports."""
    per_item: dict[str, Counter[str]] = {}
    documents: Counter[str] = Counter()
    for title, body, item in reports:
        documents[item] += 1
        per_item.setdefault(item, Counter()).update(features(title, body))
    items = sorted(per_item)
    kinds = Counter(f for counts in per_item.values() for f in counts)  # of how many items
    vocabulary = sorted(f for f, n in kinds.items() if n <= max_items)
    per_item = {
        item: Counter({f: n for f, n in counts.items() if kinds[f] <= max_items})
        for item, counts in per_item.items()
    }
    size = len(vocabulary)
    n = sum(documents.values())
    totals = [sum(per_item[item].values()) + alpha * size for item in items]
    unseen = [math.log(alpha / total) for total in totals]
    seen: dict[str, dict[str, float]] = {}
    for feature in vocabulary:
        lifts = {
            str(i): round(math.log((per_item[item][feature] + alpha) / totals[i]) - unseen[i], 4)
            for i, item in enumerate(items)
            if per_item[item][feature]
        }
        seen[feature] = lifts
    return {
        "format": FORMAT,
        "alpha": alpha,
        "items": items,
        "prior": [round(math.log(documents[item] / n), 4) for item in items],
        "unseen": [round(u, 4) for u in unseen],
        "seen": seen,
    }


def dumps(document: Mapping[str, object]) -> bytes:
    """The model file's bytes: sorted, compact, one line per feature (readable diffs)."""
    head = {k: v for k, v in document.items() if k != "seen"}
    seen = document["seen"]
    assert isinstance(seen, Mapping)
    lines = [json.dumps(head, ensure_ascii=False, sort_keys=True)[:-1] + ', "seen": {']
    entries = [
        f"{json.dumps(f, ensure_ascii=False)}: {json.dumps(seen[f], sort_keys=True)}"
        for f in sorted(seen)
    ]
    lines.append(",\n".join(entries))
    lines.append("}}\n")
    return "\n".join(lines).encode()


def digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:16]


def parse(raw: bytes) -> Model:
    document = json.loads(raw)
    if document.get("format") != FORMAT:
        raise ModelError(f"model format {document.get('format')!r}, expected {FORMAT}")
    return Model(
        items=tuple(document["items"]),
        prior=tuple(document["prior"]),
        unseen=tuple(document["unseen"]),
        seen={
            feature: {int(i): lift for i, lift in lifts.items()}
            for feature, lifts in document["seen"].items()
        },
    )


@lru_cache(maxsize=4)
def load(name: str, sha256: str) -> Model:
    """The packaged model `name` (a file of domain/models), checked against its digest."""
    if "/" in name or "\\" in name or not name.endswith(".json"):
        raise ModelError(f"model {name!r}: a file name of domain/models ending in .json")
    try:
        raw = resources.files(MODELS).joinpath(name).read_bytes()
    except (FileNotFoundError, IsADirectoryError) as missing:
        raise ModelError(f"model {name!r} is not in domain/models") from missing
    if digest(raw) != sha256:
        raise ModelError(f"model {name!r} has sha256 {digest(raw)}, the policy says {sha256}")
    return parse(raw)
