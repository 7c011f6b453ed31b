"""Interest topics: the Topics API taxonomy v2, its allowlist and the sensitive label set S.

Interest profiles live in allowlist space only. The allowlist is Topics v2 (469 topics,
Privacy Sandbox, Apache-2.0; see `data/NOTICE.md`) minus a denylist of residual GDPR
Art. 9 proxies: topics still in v2 whose audience would stand in for a special-category
trait (spec/audience.md §1). A denied topic takes its whole subtree with it.

S is the seven Art. 9 categories. S labels describe a *video*, never a viewer: they exist
to audit and block cohorts, and no S label ever becomes a profile dimension.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

HEALTH = "health"
RELIGION = "religious or philosophical beliefs"
POLITICS = "political opinions"
SEX_LIFE = "sex life or sexual orientation"
ETHNIC_ORIGIN = "racial or ethnic origin"
TRADE_UNION = "trade-union membership"
GENETIC_BIOMETRIC = "genetic or biometric data"

# The sensitive label set S: label -> plain-language description (also the text the
# embedding classifier compares a video against).
SENSITIVE_LABELS: Mapping[str, str] = {
    HEALTH: "health, illness, disease, medical treatment, mental health, disability, "
    "pregnancy, medication and sexual or reproductive health",
    RELIGION: "religion, faith, worship, prayer, church, mosque, temple, scripture, "
    "spirituality, atheism and ethical veganism",
    POLITICS: "politics, elections, political parties, candidates, voting, protests, "
    "government policy debates and activism",
    SEX_LIFE: "sexual orientation, LGBTQ+, gay, lesbian, bisexual, transgender, queer, "
    "dating, sex and sexual relationships",
    ETHNIC_ORIGIN: "race, ethnicity, ethnic origin, diaspora, racism, indigenous peoples "
    "and ethnic minority communities",
    TRADE_UNION: "trade unions, labour unions, strikes, collective bargaining, union "
    "membership and workers organising",
    GENETIC_BIOMETRIC: "genetics, DNA tests, genome sequencing, hereditary traits, "
    "biometrics, fingerprints, facial recognition and iris scans",
}

# Topics v2 id -> (the Art. 9 category it proxies, why it is denied). Subtrees included.
DENYLIST: Mapping[int, tuple[str, str]] = {
    247: (POLITICS, "/News/Politics: its audience is a political-interest segment (spec §1)"),
    160: (HEALTH, "/Finance/Insurance/Health Insurance: shopping for cover tracks health status"),
    260: (HEALTH, "/Parenting/Babies & Toddlers: proxies pregnancy and maternity (spec §1)"),
    259: (SEX_LIFE, "/Parenting/Adoption: proxies infertility and same-sex parenthood"),
    384: (HEALTH, "Feminine Hygiene Products: proxies menstrual and reproductive health"),
    539: (HEALTH, "Health Education & Medical Training: health videos drift into it"),
    560: (TRADE_UNION, "/Law & Government/Labor & Employment Law: proxies union disputes"),
    176: (RELIGION, "Vegetarian Cuisine: proxies religious diets (Hindu, Jain, Adventist)"),
    177: (RELIGION, "Vegan Cuisine: ethical veganism is a protected philosophical belief"),
}

# Allowlisted topics whose names touch an S theme, reviewed and kept, with the reason.
# The golden test requires every allowlisted path that matches an S keyword to be here.
REVIEWED_KEPT: Mapping[int, str] = {
    392: "Gyms & Health Clubs: fitness venues; says nothing about a condition",
    553: "Health & Medical Jobs: an occupation, not a health status",
    162: "Life Insurance: a household-finance product, not health data",
    471: "Holidays & Seasonal Events: commercial seasons; religious videos get an S label",
    28: "Folk & Traditional Music: a music genre; diaspora videos get an S label",
    277: "Foreign Language Study: learners of all origins; diaspora videos get an S label",
    394: "Yoga & Pilates: exercise classes; spiritual yoga videos get an S label",
    21: "Romance Films: a film genre; dating and sex videos get an S label",
    353: "Bars, Clubs & Nightlife: venues; LGBTQ+ venue videos get an S label",
    552: "Government & Public Sector Jobs: an employer type, not a political opinion",
    239: "Law & Government: civic services; political videos get an S label",
    383: "Hygiene & Toiletries: everyday toiletries; the menstrual leaf (384) is denied",
    297: "Party & Holiday Supplies: decorations and party goods, not worship",
}

# Lower-case word stems: an allowlisted topic whose own name has a word starting with one
# of them needs a REVIEWED_KEPT entry (the golden test enforces it).
AUDIT_STEMS: tuple[str, ...] = (
    "health", "medic", "pharma", "religio", "church", "spiritual", "polit",
    "govern", "union", "labor", "dating", "sex", "gay", "ethnic", "race", "folk",
    "language", "genetic", "dna", "biometric", "baby", "babies", "pregnan", "hygiene",
    "yoga", "holiday", "romance", "nightlife", "vegan", "vegetarian", "adoption",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class InterestTopic:
    id: int
    path: str  # e.g. "/Food & Drink/Restaurants/Pizzerias"

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.path.strip("/").split("/"))

    @property
    def name(self) -> str:
        return self.parts[-1]

    @property
    def root(self) -> str:
        return self.parts[0]


@cache
def topics_v2() -> Mapping[int, InterestTopic]:
    """Every Topics v2 topic by id, in file order (parents before children)."""
    text = files("fairview.audience").joinpath("data/topics_v2.md").read_text("utf-8")
    out: dict[int, InterestTopic] = {}
    for line in text.splitlines()[2:]:  # header row and separator
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0].isdigit():
            out[int(cells[0])] = InterestTopic(int(cells[0]), cells[1])
    return out


def parent(topic_id: int) -> int | None:
    """The id of the topic's parent in Topics v2; None for a root or an unknown id."""
    topic = topics_v2().get(topic_id)
    if topic is None or len(topic.parts) == 1:
        return None
    return _by_path()["/" + "/".join(topic.parts[:-1])]


def root_of(topic_id: int) -> int:
    """The id of the topic's root (itself when it is a root)."""
    up = parent(topic_id)
    return topic_id if up is None else root_of(up)


def ancestors(topic_id: int) -> tuple[int, ...]:
    """The topic's id and its ancestors' ids, nearest first."""
    up = parent(topic_id)
    return (topic_id,) if up is None else (topic_id, *ancestors(up))


@cache
def sensitive_topics() -> Mapping[int, str]:
    """Topics v2 ids that map to S (denylisted topics and their subtrees) -> category."""
    out: dict[int, str] = {}
    for topic_id in topics_v2():
        for node in ancestors(topic_id):
            if node in DENYLIST:
                out[topic_id] = DENYLIST[node][0]
                break
    return out


@cache
def allowlist() -> frozenset[int]:
    """The topic ids a profile, cohort or classifier may use: Topics v2 minus S-mapped ids."""
    return frozenset(topics_v2()) - frozenset(sensitive_topics())


def audit_hits(topic_id: int) -> tuple[str, ...]:
    """The AUDIT_STEMS that start a word of the topic's own name."""
    words = re.findall(r"[a-z]+", topics_v2()[topic_id].name.lower())
    return tuple(s for s in AUDIT_STEMS if any(w.startswith(s) for w in words))


@cache
def _by_path() -> Mapping[str, int]:
    return {t.path: t.id for t in topics_v2().values()}
