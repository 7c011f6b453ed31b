"""Content topics: the IAB Content Taxonomy 3.1 and the sensitive label set S.

A video is classified into content topics (the platform sends their ids with an
ad request). Topics serve contextual targeting and brand safety. Some topics are
special-category context (GDPR Art. 9: health, religion, politics, sex life or
sexual orientation, ethnic origin, trade-union membership) or otherwise
sensitive: content on them is never used for profiling (consent policy,
DSA Art. 26(3)), and S labels are kept per video, never per viewer.

S is the IAB subtrees named in spec/audience.md ("Religion & Spirituality",
"Medical Health", "Politics", "Sensitive Topics", "Marriage and Civil Unions"),
the health-revealing leaves of "Healthy Living", "Dating" and "Special Needs
Kids", plus platform labels the IAB taxonomy lacks (it has no LGBTQ+ node).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

# IAB subtree root (id) -> the Art. 9 category or reason it stands for.
SENSITIVE_ROOTS: Mapping[str, str] = {
    "453": "religious or philosophical beliefs",  # Religion & Spirituality
    "286": "health",  # Medical Health
    "386": "political opinions",  # Politics
    "v9i3On": "sensitive content (IAB Sensitive Topics)",
    "191": "sex life or sexual orientation",  # Marriage and Civil Unions
    "188": "sex life or sexual orientation",  # Dating
    "199": "health",  # Special Needs Kids
    "224": "health",  # Children's Health
    "228": "health",  # Men's Health
    "230": "health",  # Senior Health
    "231": "health",  # Weight Loss
    "237": "health",  # Smoking Cessation
    "238": "health",  # Women's Health
}

# Platform labels for Art. 9 content the IAB taxonomy has no node for.
PLATFORM_LABELS: Mapping[str, tuple[str, str]] = {
    "fv-lgbtq": ("LGBTQ+ content", "sex life or sexual orientation"),
    "fv-ethnic-origin": ("Ethnicity and diaspora content", "racial or ethnic origin"),
    "fv-trade-union": ("Trade-union content", "trade-union membership"),
    "fv-sexual-health": ("Sexual health", "health"),
}

MAX_TOPICS_PER_REQUEST = 10


@dataclass(frozen=True, slots=True)
class Topic:
    id: str
    name: str
    parent: str | None
    path: tuple[str, ...]  # names from tier 1 down to this topic
    sensitive: str | None  # the Art. 9 category or reason, None when not sensitive

    @property
    def label(self) -> str:
        return " > ".join(self.path)


class Taxonomy:
    """Topics by id, with their ancestry and sensitivity."""

    def __init__(self, topics: Iterable[Topic]) -> None:
        self._topics = {t.id: t for t in topics}

    def __contains__(self, topic_id: object) -> bool:
        return topic_id in self._topics

    def __len__(self) -> int:
        return len(self._topics)

    def get(self, topic_id: str) -> Topic | None:
        return self._topics.get(topic_id)

    def topics(self) -> list[Topic]:
        return list(self._topics.values())

    def lineage(self, topic_id: str) -> tuple[str, ...]:
        """The topic's id and its ancestors' ids, nearest first; () for an unknown id."""
        out: list[str] = []
        current = self._topics.get(topic_id)
        while current is not None and current.id not in out:
            out.append(current.id)
            current = self._topics.get(current.parent) if current.parent else None
        return tuple(out)

    def within(self, topic_id: str, roots: Iterable[str]) -> bool:
        """Whether the topic is one of `roots` or lies below one of them."""
        wanted = set(roots)
        return any(t in wanted for t in self.lineage(topic_id))

    def is_sensitive(self, topic_id: str) -> bool:
        topic = self._topics.get(topic_id)
        return topic is not None and topic.sensitive is not None

    def unknown(self, topic_ids: Iterable[str]) -> list[str]:
        return [t for t in topic_ids if t not in self._topics]


@cache
def content_taxonomy() -> Taxonomy:
    """IAB Content Taxonomy 3.1 plus the platform labels, with S marked."""
    text = files("fairview.audience").joinpath("data/content_taxonomy_3.1.tsv").read_text("utf-8")
    rows = list(csv.reader(io.StringIO(text), delimiter="\t"))[2:]  # two header lines
    parents = {row[0]: row[1] or None for row in rows if row and row[0]}
    names = {row[0]: row[2] for row in rows if row and row[0]}

    def reason(topic_id: str) -> str | None:
        seen: set[str] = set()
        current: str | None = topic_id
        while current is not None and current not in seen:
            if current in SENSITIVE_ROOTS:
                return SENSITIVE_ROOTS[current]
            seen.add(current)
            current = parents.get(current)
        return None

    def path(topic_id: str) -> tuple[str, ...]:
        chain: list[str] = []
        current: str | None = topic_id
        while current is not None and current in names and names[current] not in chain:
            chain.append(names[current])
            current = parents.get(current)
        return tuple(reversed(chain))

    topics = [Topic(i, names[i], parents[i], path(i), reason(i)) for i in names]
    topics += [
        Topic(i, name, None, ("Platform labels", name), why)
        for i, (name, why) in PLATFORM_LABELS.items()
    ]
    return Taxonomy(topics)
