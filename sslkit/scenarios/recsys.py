"""Recommendation from interaction sequences: split, ranking metrics, two baselines and
self-supervised item embeddings, all behind one interface (``model.score(histories)``).

    from sslkit.scenarios import recsys, recsys_data
    data = recsys.to_sequences(recsys_data.load_movielens())  # per user: item indices ordered by time
    split = recsys.leave_last_out(data.sequences)               # train prefix | validation item | test item
    pop = recsys.Popularity().fit(split.train, data.n_items)
    mf = recsys.ImplicitALS(factors=64).fit(split.train, data.n_items)
    ssl = recsys.ContrastiveItemEmbeddings(dim=64, steps=3000).fit(split.train, data.n_items)
    m = recsys.evaluate(ssl, split, "test", k=10)              # per-user Recall@10 and NDCG@10
    same = recsys.ItemVectorRecommender(mf.item_factors, ssl.counts)  # MF's vectors, SSL's scoring

Every model ranks *all* items for a user from the user's history (a list of item indices, oldest
first); items already in the history are never recommended (``top_k`` masks them). Popularity and
matrix factorisation are the usual baselines; the self-supervised model learns item embeddings
with no labels at all, from which items sit close together in users' histories (a contrastive
pretext task), and represents a user by a recency-weighted mean of the embeddings of what they
watched. MF and the SSL model both compute a user's vector from the history at scoring time
(ALS by its closed-form "fold-in"), so all three see exactly the same information.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from sslkit.progress import tqdm

from sslkit.checks import check_choice, check_fraction, check_positive
from sslkit.losses import nt_xent

STAGES = ("valid", "test")

# ------------------------------------------------------------------------------------ data


@dataclass
class Sequences:
    """Users' interaction sequences. ``sequences[u]``: int64 item indices of user u, oldest first;
    item index i is ``item_ids[i]`` in the source (the MovieLens movieId), titled ``titles[i]``."""

    sequences: list
    item_ids: np.ndarray
    titles: list
    user_ids: np.ndarray

    @property
    def n_users(self) -> int:
        return len(self.sequences)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_interactions(self) -> int:
        return int(sum(len(s) for s in self.sequences))

    def index_of(self, title: str) -> int:
        """The item index of the film titled ``title`` (exact match, else the one title containing it)."""
        if title in self.titles:
            return self.titles.index(title)
        hits = [i for i, t in enumerate(self.titles) if title.lower() in t.lower()]
        if len(hits) != 1:
            some = ", ".join(repr(self.titles[i]) for i in hits[:5])
            raise KeyError(f"{len(hits)} titles contain {title!r}" + (f": {some}" if hits else ""))
        return hits[0]


def to_sequences(df, min_length: int = 3) -> Sequences:
    """Group a ratings table (columns user, item, timestamp, title) into per-user sequences.

    Every rating counts as one implicit interaction ("the user watched it"), whatever its value.
    Order: timestamp, ties broken by item id. A repeated (user, item) pair keeps its first
    occurrence. Users with fewer than ``min_length`` interactions (3: one each for train,
    validation, test) are dropped; items are indexed 0..n_items-1 over the users kept.
    """
    check_positive("min_length", min_length)
    for col in ("user", "item", "timestamp"):
        if col not in df.columns:
            raise ValueError(f"the table needs columns user, item, timestamp (and title); {col!r} is missing")
    df = df.sort_values(["user", "timestamp", "item"], kind="stable").drop_duplicates(["user", "item"])
    counts = df.groupby("user")["item"].transform("size")
    df = df[counts >= min_length]
    if df.empty:
        raise ValueError(f"no user has {min_length} or more interactions")
    item_ids, items = np.unique(df["item"].to_numpy(), return_inverse=True)
    users = df["user"].to_numpy()
    cut = np.flatnonzero(np.r_[True, users[1:] != users[:-1], True])  # users are contiguous after sorting
    sequences = [items[a:b].astype(np.int64) for a, b in zip(cut[:-1], cut[1:])]
    if "title" in df.columns:
        first = df.drop_duplicates("item").set_index("item")["title"]
        titles = [str(first[i]) for i in item_ids]
    else:
        titles = [f"item {i}" for i in item_ids]
    return Sequences(sequences, item_ids, titles, users[cut[:-1]])


@dataclass
class Split:
    """Leave-last-out: per user, ``train[u]`` (all but the last two items), ``valid[u]`` (the second
    to last) and ``test[u]`` (the last). ``history(stage)`` is what a model may see when it is
    asked for ``target(stage)``: the train prefix for "valid", the train prefix plus the
    validation item for "test" -- always earlier in the sequence (never later in time) than the target."""

    train: list
    valid: np.ndarray
    test: np.ndarray

    def history(self, stage: str) -> list:
        check_choice("stage", stage, STAGES)
        if stage == "valid":
            return self.train
        return [np.append(t, v) for t, v in zip(self.train, self.valid)]

    def target(self, stage: str) -> np.ndarray:
        check_choice("stage", stage, STAGES)
        return self.valid if stage == "valid" else self.test

    @property
    def train_lengths(self) -> np.ndarray:
        return np.array([len(t) for t in self.train])


def leave_last_out(sequences) -> Split:
    """Split each sequence (oldest first) into train prefix, validation item and test item."""
    short = [u for u, s in enumerate(sequences) if len(s) < 3]
    if short:
        raise ValueError(f"leave-last-out needs >= 3 interactions per user; users {short[:5]} have fewer "
                         "(to_sequences(min_length=3) drops them)")
    train = [np.asarray(s[:-2], dtype=np.int64) for s in sequences]
    valid = np.array([s[-2] for s in sequences], dtype=np.int64)
    test = np.array([s[-1] for s in sequences], dtype=np.int64)
    return Split(train, valid, test)


def truncate(histories, n: int) -> list:
    """Keep only the ``n`` most recent items of each history (a user we know little about)."""
    check_positive("n", n)
    return [h[-n:] for h in histories]


def item_counts(histories, n_items: int) -> np.ndarray:
    """How many histories contain each item: (n_items,) int64."""
    flat = np.concatenate([np.asarray(h, dtype=np.int64) for h in histories]) if len(histories) else np.zeros(0, int)
    return np.bincount(flat, minlength=n_items)


# --------------------------------------------------------------------------------- metrics


def top_k(scores: torch.Tensor, k: int, exclude=None) -> torch.Tensor:
    """Indices of the ``k`` highest scores per row, never one listed in ``exclude``.

    scores: (U, I); exclude: U lists of item indices (e.g. the histories) or None. Returns (U, k)
    int64, best first. Excluded items are set to -inf before ranking; ties go to the lower index.
    """
    check_positive("k", k)
    if scores.dim() != 2:
        raise ValueError(f"scores must be (users, items), got shape {tuple(scores.shape)}")
    if k > scores.shape[1]:
        raise ValueError(f"k={k} is larger than the number of items ({scores.shape[1]})")
    scores = scores.detach().float().clone()
    if exclude is not None:
        if len(exclude) != len(scores):
            raise ValueError(f"exclude has {len(exclude)} lists but scores has {len(scores)} rows")
        rows = np.repeat(np.arange(len(exclude)), [len(e) for e in exclude])
        cols = np.concatenate([np.asarray(e, dtype=np.int64) for e in exclude]) if len(rows) else rows
        scores[torch.from_numpy(rows), torch.from_numpy(cols)] = float("-inf")
    # Ties must be deterministic (torch.topk's choice among equal scores is not specified): where
    # the k-th score is tied with a score outside the top k, the row is ranked by a stable full
    # sort; elsewhere the top-k set is unique and only its order (score, then index) is fixed.
    values, idx = torch.topk(scores, k, dim=1)
    kth, idx = values[:, -1:], idx.sort(dim=1).values
    order = torch.sort(scores.gather(1, idx), dim=1, descending=True, stable=True).indices
    top = idx.gather(1, order)
    tied = (scores >= kth).sum(1) > k
    if tied.any():
        top[tied] = torch.sort(scores[tied], dim=1, descending=True, stable=True).indices[:, :k]
    return top


def _relevant_sets(relevant, n: int) -> list:
    if isinstance(relevant, (torch.Tensor, np.ndarray)) and np.ndim(relevant) == 1:
        relevant = [[int(r)] for r in relevant]
    if len(relevant) != n:
        raise ValueError(f"need one set of relevant items per ranked list: {n} lists, {len(relevant)} sets")
    sets = [set(int(r) for r in rel) for rel in relevant]
    if any(not s for s in sets):
        raise ValueError("every user needs at least one relevant item")
    return sets


def recall_at_k(ranked, relevant) -> np.ndarray:
    """Recall@K per user: the fraction of the user's relevant items found in the top K.

        Recall@K(u) = |top_K(u) ∩ R(u)| / |R(u)|

    ranked: (U, K) item indices, best first (from :func:`top_k`); relevant: (U,) one held-out
    item per user (then Recall@K is the hit rate: 1 if it is in the top K, else 0) or U
    collections of items. Returns (U,) float64 in [0, 1].
    """
    ranked = np.asarray(ranked)
    sets = _relevant_sets(relevant, len(ranked))
    return np.array([sum(int(i) in s for i in row) / len(s) for row, s in zip(ranked, sets)], dtype=np.float64)


def ndcg_at_k(ranked, relevant) -> np.ndarray:
    """NDCG@K per user: hits discounted by the log of their rank, normalised by the best possible.

        DCG@K(u)  = sum_{r=1..K} [item at rank r in R(u)] / log2(r + 1)
        IDCG@K(u) = sum_{r=1..min(K, |R(u)|)} 1 / log2(r + 1)
        NDCG@K(u) = DCG@K(u) / IDCG@K(u)

    With one held-out item at rank r <= K this is 1 / log2(r + 1): 1 at rank 1, 0.63 at rank 2,
    0.29 at rank 10, 0 outside the top K. Shapes as in :func:`recall_at_k`.
    Järvelin & Kekäläinen, "Cumulated gain-based evaluation of IR techniques", TOIS 2002.
    """
    ranked = np.asarray(ranked)
    sets = _relevant_sets(relevant, len(ranked))
    k = ranked.shape[1] if ranked.ndim == 2 else 0
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    out = np.empty(len(ranked))
    for u, (row, s) in enumerate(zip(ranked, sets)):
        gains = np.array([int(i) in s for i in row], dtype=np.float64)
        out[u] = (gains * discount).sum() / discount[:min(k, len(s))].sum()
    return out


def evaluate(model, split: Split, stage: str = "test", k: int = 10, histories=None,
             users=None, batch_users: int = 512) -> dict:
    """Per-user Recall@K and NDCG@K of ``model`` on ``split``'s ``stage`` target.

    The model scores all items from each user's history (``split.history(stage)``, or the given
    ``histories``, e.g. truncated ones); the history's items are excluded from the ranking.
    ``users``: evaluate only these user indices. Returns {"recall": (U,), "ndcg": (U,), "users": (U,)}.
    """
    hist = split.history(stage) if histories is None else histories
    target = split.target(stage)
    if len(hist) != len(target):
        raise ValueError(f"need one history per user: {len(target)} users, {len(hist)} histories")
    users = np.arange(len(target)) if users is None else np.asarray(users, dtype=np.int64)
    recall, ndcg = [], []
    for a in range(0, len(users), batch_users):
        idx = users[a:a + batch_users]
        h = [hist[u] for u in idx]
        ranked = top_k(model.score(h), k, exclude=h).numpy()
        recall.append(recall_at_k(ranked, target[idx]))
        ndcg.append(ndcg_at_k(ranked, target[idx]))
    return {"recall": np.concatenate(recall), "ndcg": np.concatenate(ndcg), "users": users}


def bootstrap_ci(values, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> tuple:
    """Mean of ``values`` and a percentile bootstrap interval over them (resampling users).

    Returns (mean, low, high). For a paired comparison of two models pass the per-user
    differences: an interval that excludes 0 says the gap is unlikely to be an accident of which
    users happen to be in the data. Efron & Tibshirani, "An Introduction to the Bootstrap", 1993.
    """
    check_positive("n_boot", n_boot)
    check_fraction("level", level, inclusive_high=False)
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or not len(v):
        raise ValueError(f"values must be a non-empty 1-D array, got shape {v.shape}")
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), size=(n_boot, len(v)))].mean(1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(v.mean()), float(lo), float(hi)


# ------------------------------------------------------------------------------- baselines


class Popularity:
    """Recommend the items most users interacted with in training, the same list for everyone
    (minus what each user has seen). The baseline every recommender must beat."""

    def fit(self, train, n_items: int, progress: bool = False) -> "Popularity":
        check_positive("n_items", n_items)
        self.n_items = n_items
        self.counts = item_counts(train, n_items)
        return self

    def score(self, histories) -> torch.Tensor:
        s = torch.from_numpy(self.counts.astype(np.float32))
        return s.expand(len(histories), -1)


class _Padded:
    """Interaction lists (one per entity) in padded chunks for batched linear algebra, built once.

    ``chunks``: (ids (B,), idx (B, L), mask (B, L)) with lists of similar length together and at
    most ~64k padded slots per chunk; entities with an empty list are left out (their x stays 0)."""

    def __init__(self, lists, slots: int = 65536):
        self.n = len(lists)
        lengths = np.array([len(l) for l in lists])
        order = np.argsort(lengths, kind="stable")
        order = order[lengths[order] > 0]
        self.chunks, a = [], 0
        while a < len(order):
            b = a + 1
            while b < len(order) and (b + 1 - a) * lengths[order[b]] <= slots:
                b += 1
            ids = order[a:b]
            idx = torch.zeros(len(ids), int(lengths[ids].max()), dtype=torch.long)
            for r, e in enumerate(ids):
                idx[r, :lengths[e]] = torch.as_tensor(np.asarray(lists[e], dtype=np.int64))
            mask = torch.arange(idx.shape[1]) < torch.as_tensor(lengths[ids]).unsqueeze(1)
            self.chunks.append((torch.as_tensor(ids), idx, mask))
            a = b


def _als_solve(other: torch.Tensor, padded: _Padded, alpha: float, reg: float, x0=None,
               cg_steps: int = 0) -> torch.Tensor:
    """One side of implicit ALS: for every entity with interaction list N, the x that solves

        (YᵀY + alpha Σ_{i∈N} y_i y_iᵀ + reg I) x = (1 + alpha) Σ_{i∈N} y_i

    (Hu et al. 2008, Eq. 4: confidence 1 + alpha on the observed items, 1 elsewhere; YᵀY covers
    all items at once, so the cost grows with |N|, not with the number of items).
    ``cg_steps=0``: exact batched solves. ``cg_steps>0``: that many conjugate-gradient steps from
    ``x0`` without forming the matrices, O(|N| f) per step instead of O(f^3) per entity
    (Takács, Pilászy, Tikk, "Applications of the conjugate gradient method for implicit feedback
    collaborative filtering", RecSys 2011; the method of the ``implicit`` library).
    """
    f = other.shape[1]
    gram = other.T @ other + reg * torch.eye(f, dtype=other.dtype)
    out = torch.zeros(padded.n, f, dtype=other.dtype) if x0 is None else x0.clone()
    for ids, idx, mask in padded.chunks:
        y = other[idx] * mask.unsqueeze(-1).to(other.dtype)        # (B, L, f); padding rows are 0
        b = (1 + alpha) * y.sum(1)
        if not cg_steps:
            a_mat = gram + alpha * torch.bmm(y.transpose(1, 2), y)
            out[ids] = torch.linalg.solve(a_mat, b)
            continue

        def matvec(v):  # (B, f) -> A v, without building A
            return v @ gram + alpha * torch.bmm(y.transpose(1, 2), torch.bmm(y, v.unsqueeze(-1))).squeeze(-1)

        x = out[ids]
        r = b - matvec(x)
        p, rs = r.clone(), (r * r).sum(1)
        for _ in range(cg_steps):
            ap = matvec(p)
            step = rs / (p * ap).sum(1).clamp_min(1e-20)
            x = x + step.unsqueeze(1) * p
            r = r - step.unsqueeze(1) * ap
            rs_new = (r * r).sum(1)
            p = r + (rs_new / rs.clamp_min(1e-20)).unsqueeze(1) * p
            rs = rs_new
        out[ids] = x
    return out


def _transpose(lists, n_items: int) -> list:
    """Per-user item lists -> per-item user lists."""
    users = np.repeat(np.arange(len(lists)), [len(l) for l in lists])
    items = np.concatenate([np.asarray(l, dtype=np.int64) for l in lists])
    order = np.argsort(items, kind="stable")
    bounds = np.searchsorted(items[order], np.arange(n_items + 1))
    return [users[order[bounds[i]:bounds[i + 1]]] for i in range(n_items)]


class ImplicitALS:
    """Matrix factorisation for implicit feedback, trained by alternating least squares.

    Every (user, item) cell gets a preference p_ui (1 if the user interacted, else 0) and a
    confidence c_ui = 1 + alpha p_ui; user factors x_u and item factors y_i (``factors`` dims) minimise

        L = sum_{u,i} c_ui (p_ui - x_uᵀ y_i)^2 + reg (sum_u ||x_u||^2 + sum_i ||y_i||^2)

    Each iteration minimises L over all users with the items fixed, then over all items with the
    users fixed (``cg_steps`` conjugate-gradient steps each, warm-started; 0 = exact solves).
    Scoring folds a history in with an exact solve, so a user's vector reflects every item in
    the history given to ``score``: no retraining for the validation item or a new user.
    Hu, Koren, Volinsky, "Collaborative Filtering for Implicit Feedback Datasets", ICDM 2008.
    """

    def __init__(self, factors: int = 64, reg: float = 10.0, alpha: float = 3.0, iterations: int = 8,
                 cg_steps: int = 3, seed: int = 0):
        self.factors = check_positive("factors", factors)
        self.reg = check_positive("reg", reg, integer=False)
        self.alpha = check_positive("alpha", alpha, integer=False)
        self.iterations = check_positive("iterations", iterations)
        self.cg_steps = check_positive("cg_steps", cg_steps, allow_zero=True)
        self.seed = check_positive("seed", seed, allow_zero=True)

    def fit(self, train, n_items: int, progress: bool = True) -> "ImplicitALS":
        check_positive("n_items", n_items)
        g = torch.Generator().manual_seed(self.seed)
        self.item_factors = torch.randn(n_items, self.factors, generator=g) * 0.01
        users, items = _Padded(train), _Padded(_transpose(train, n_items))
        x = None
        self.history = {"iteration": [], "loss": []}
        for it in tqdm(range(self.iterations), desc="ALS", disable=not progress):
            x = _als_solve(self.item_factors, users, self.alpha, self.reg, x, self.cg_steps)
            self.item_factors = _als_solve(x, items, self.alpha, self.reg, self.item_factors, self.cg_steps)
            self.history["iteration"].append(it + 1)
            self.history["loss"].append(self._loss(x, train))
        return self

    def _loss(self, users: torch.Tensor, train) -> float:
        """L above, exactly: the dense U x I predictions are small here (per-mille of the cells are 1)."""
        pred = users.double() @ self.item_factors.double().T
        rows = torch.from_numpy(np.repeat(np.arange(len(train)), [len(t) for t in train]))
        cols = torch.from_numpy(np.concatenate(train))
        seen = pred[rows, cols]
        # c=1, p=0 everywhere, corrected on the observed cells where c = 1 + alpha and p = 1.
        data = pred.pow(2).sum() + ((1 + self.alpha) * (1 - seen) ** 2 - seen ** 2).sum()
        return float(data + self.reg * (users.double().pow(2).sum() + self.item_factors.double().pow(2).sum()))

    def user_factors(self, histories) -> torch.Tensor:
        """Exact fold-in: the least-squares user vector for each history, item factors fixed."""
        return _als_solve(self.item_factors, _Padded(histories), self.alpha, self.reg)

    def score(self, histories) -> torch.Tensor:
        return self.user_factors(histories) @ self.item_factors.T

    def embeddings(self) -> torch.Tensor:
        return self.item_factors.float()


# --------------------------------------------------------------- self-supervised embeddings


class ItemVectorRecommender:
    """Recommend from item vectors alone: a user is where their recent items point.

    user_u = normalise(sum_{a < max_history} decay**a * e_{h[-1-a]})   (a = 0: the latest item)
    score(u, j) = cos(user_u, e_j) / temperature + pop_weight * log(1 + count_j)

    ``table``: (n_items, D) item vectors (normalised here); ``counts``: (n_items,) training counts.
    Any table works -- the contrastive embeddings, or MF's item factors, which makes "which
    vectors are better" a comparison with everything else held equal.
    """

    def __init__(self, table: torch.Tensor, counts, temperature: float = 0.1, decay: float = 0.5,
                 max_history: int = 50, pop_weight: float = 0.5):
        self.table = F.normalize(torch.as_tensor(table).float(), dim=1)
        self.counts = np.asarray(counts)
        if self.counts.shape != (len(self.table),):
            raise ValueError(f"counts must have one entry per item ({len(self.table)}), got shape {self.counts.shape}")
        self.temperature = check_positive("temperature", temperature, integer=False)
        self.decay = check_fraction("decay", decay)
        self.max_history = check_positive("max_history", max_history)
        self.pop_weight = check_positive("pop_weight", pop_weight, integer=False, allow_zero=True)

    def embeddings(self) -> torch.Tensor:
        """(n_items, D), unit length."""
        return self.table

    def user_vectors(self, histories) -> torch.Tensor:
        if self.table is None:
            raise RuntimeError("no item vectors yet: call fit(train, n_items) first")
        return user_vectors(self.table, histories, self.decay, self.max_history)

    def score(self, histories) -> torch.Tensor:
        s = self.user_vectors(histories) @ self.table.T / self.temperature
        if self.pop_weight:
            s = s + self.pop_weight * torch.log1p(torch.from_numpy(self.counts).float())
        return s


class ContextPairs:
    """Positive pairs for the pretext task, drawn from the training histories.

    ``sample(size, rng)``: (size, 2) int64 item pairs (anchor, positive). The anchor is an
    interaction drawn uniformly from all training interactions (so items appear in proportion to
    their popularity); the positive is another item of the same user at most ``window`` positions
    away in time (offset uniform in ±1..±window, reflected back into the sequence at its ends).
    Users with a single training item provide no anchors.
    """

    def __init__(self, train, window: int):
        self.window = check_positive("window", window)
        lengths = np.array([len(t) for t in train])
        self.flat = np.concatenate([np.asarray(t, dtype=np.int64) for t in train])
        self.starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
        self.lens = np.repeat(lengths, lengths)
        self.usable = np.flatnonzero(self.lens > 1)
        if not len(self.usable):
            raise ValueError("no user has two training interactions: there are no positive pairs")

    def sample(self, size: int, rng: np.random.Generator) -> np.ndarray:
        pick = self.usable[rng.integers(0, len(self.usable), size)]
        pos, lens = pick - self.starts[pick], self.lens[pick]
        offset = rng.integers(1, self.window + 1, size) * rng.choice([-1, 1], size)
        other = pos + offset
        outside = (other < 0) | (other >= lens)
        other[outside] = pos[outside] - offset[outside]
        other = np.clip(other, 0, lens - 1)
        same = other == pos  # a sequence shorter than the window: take the neighbour instead
        other[same] = np.where(pos[same] > 0, pos[same] - 1, 1)
        return np.stack([self.flat[pick], self.flat[self.starts[pick] + other]], 1)


class ContrastiveItemEmbeddings(ItemVectorRecommender):
    """Item embeddings learnt with no labels: items close together in a user's history are positives.

    Pretext task: draw N (anchor, positive) pairs of items that one user interacted with at most
    ``window`` steps apart (:class:`ContextPairs`); embed both with one table E (n_items, dim);
    NT-Xent (``sslkit.losses.nt_xent``) asks each of the 2N embeddings to find its partner among
    the 2N - 1 others -- the other pairs in the batch are the negatives, no negative sampler needed.

    Because the negatives are drawn in proportion to popularity, the cosine learnt this way
    estimates a pointwise mutual information, log p(j | i) / p(j), which ignores how popular j is.
    Scoring adds the log-popularity back (``pop_weight`` times log of the item's training count),
    the "logQ correction" of sampled softmax (Yi et al., RecSys 2019); ``pop_weight=0`` turns it off.

    Recommendations come from :class:`ItemVectorRecommender` (recency-weighted mean of the
    user's last ``max_history`` embeddings, cosine / temperature, plus the popularity term).

    Related: item2vec (Barkan & Koenigstein 2016, skip-gram over items), CL4SRec (Xie et al. 2022,
    contrastive views of sequences); the loss is SimCLR's (Chen et al. 2020).
    """

    def __init__(self, dim: int = 64, window: int = 3, temperature: float = 0.1, batch_size: int = 256,
                 steps: int = 3000, lr: float = 0.03, decay: float = 0.5, max_history: int = 50,
                 pop_weight: float = 0.5, seed: int = 0):
        self.dim = check_positive("dim", dim)
        self.window = check_positive("window", window)
        self.temperature = check_positive("temperature", temperature, integer=False)
        self.batch_size = check_positive("batch_size", batch_size)
        if batch_size < 2:
            raise ValueError(f"batch_size must be >= 2 (the negatives come from the batch), got {batch_size}")
        self.steps = check_positive("steps", steps)
        self.lr = check_positive("lr", lr, integer=False)
        self.decay = check_fraction("decay", decay)
        self.max_history = check_positive("max_history", max_history)
        self.pop_weight = check_positive("pop_weight", pop_weight, integer=False, allow_zero=True)
        self.seed = check_positive("seed", seed, allow_zero=True)
        self.table = None

    def fit(self, train, n_items: int, progress: bool = True, log_every: int = 50,
            device="cpu") -> "ContrastiveItemEmbeddings":
        """Train the table for ``steps`` steps of ``batch_size`` pairs (Adam on the rows a step
        touches, cosine learning-rate decay). ``history``: mean loss every ``log_every`` steps."""
        check_positive("n_items", n_items)
        check_positive("log_every", log_every)
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        self.counts = item_counts(train, n_items)
        # Sparse gradients: a step touches at most 2 x batch_size rows of the table, so SparseAdam
        # updates those rows only (dense Adam would cost as much as the loss on a CPU).
        table = torch.nn.Embedding(n_items, self.dim, sparse=True)
        torch.nn.init.normal_(table.weight, std=0.1)
        table = table.to(device)
        opt = torch.optim.SparseAdam(table.parameters(), lr=self.lr)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / self.steps)))
        self.history = {"step": [], "loss": []}
        running = 0.0
        sampler = ContextPairs(train, self.window)
        bar = tqdm(range(self.steps), desc="contrastive item embeddings", disable=not progress)
        for step in bar:
            pairs = torch.from_numpy(sampler.sample(self.batch_size, rng)).to(device)
            loss = nt_xent(table(pairs[:, 0]), table(pairs[:, 1]), self.temperature)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            running += loss.item()  # one host sync per step: cheap next to the step on a CPU
            if (step + 1) % log_every == 0 or step + 1 == self.steps:
                n = (step % log_every) + 1
                self.history["step"].append(step + 1)
                self.history["loss"].append(running / n)
                bar.set_postfix(loss=f"{running / n:.3f}")
                running = 0.0
        self.table = F.normalize(table.weight.detach(), dim=1).cpu()
        return self


def user_vectors(table: torch.Tensor, histories, decay: float, max_history: int) -> torch.Tensor:
    """Recency-weighted mean of item vectors: u = normalise(sum_a decay**a * table[h[-1-a]]),
    a = 0..max_history-1 (a = 0 is the most recent item). Empty history -> zero vector."""
    out = torch.zeros(len(histories), table.shape[1], dtype=table.dtype)
    for u, h in enumerate(histories):
        h = np.asarray(h[-max_history:], dtype=np.int64)
        if len(h):
            w = torch.as_tensor(decay ** np.arange(len(h))[::-1].copy(), dtype=table.dtype)
            out[u] = w @ table[torch.from_numpy(h)]
    return F.normalize(out, dim=1)


def nearest_items(table: torch.Tensor, item: int, k: int = 5, min_count: int = 0, counts=None) -> list:
    """The ``k`` items whose vectors have the highest cosine with ``item``'s (itself excluded):
    a list of (index, cosine). ``min_count`` with ``counts`` skips items seen fewer times (rare
    items have noisy vectors)."""
    check_positive("k", k)
    t = F.normalize(table.float(), dim=1)
    sim = t @ t[item]
    sim[item] = float("-inf")
    if min_count and counts is not None:
        sim[torch.from_numpy(np.asarray(counts) < min_count)] = float("-inf")
    best = torch.topk(sim, k)
    return [(int(i), float(c)) for c, i in zip(best.values, best.indices)]
