"""The text corpora in data/text/ and their loaders (sslkit.scenarios.textdata), and the build script's choices."""
import importlib.util
from pathlib import Path

import pytest
import torch

from sslkit.scenarios import textdata
from sslkit.data import DatasetNotFoundError

REPO = Path(__file__).resolve().parent.parent


def _build_script():
    spec = importlib.util.spec_from_file_location("build_text_data", REPO / "scripts" / "build_text_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sentiment_shapes_labels_and_splits():
    full = textdata.load_sentiment()
    train, test = textdata.load_sentiment("train"), textdata.load_sentiment("test")
    assert (len(train.texts), len(test.texts)) == (19010, 4545)
    assert full.texts == train.texts + test.texts
    for d in (full, train, test):
        assert len(d.texts) == len(d.labels) == len(d.ratings) == len(d.domains)
        assert d.labels.dtype == torch.long and d.ratings.dtype == torch.float32
    assert set(full.labels.tolist()) == {0, 1, 2} and set(full.domains) == set(textdata.SENTIMENT_DOMAINS)
    assert full.ratings.min() >= -4 and full.ratings.max() <= 4
    assert torch.equal(full.labels, textdata.sentiment_label(full.ratings))
    # every class has a real share (the threshold was chosen for it); nothing is empty
    assert torch.bincount(test.labels).min() > 0.25 * len(test.labels)
    assert not set(map(str.lower, train.texts)) & set(map(str.lower, test.texts))


def test_sentiment_split_is_by_document():
    rows = textdata._read("sentiment.tsv.gz")
    split_of = {}
    for r in rows:
        doc = (r["domain"], r["id"].split("_")[0])
        assert split_of.setdefault(doc, r["split"]) == r["split"], f"document {doc} is in both splits"


def test_sentiment_thresholds_and_domain_filter():
    r = [-4.0, -1.0, -0.99, 0.0, 0.99, 1.0, 4.0]
    assert textdata.sentiment_label(r).tolist() == [0, 0, 1, 1, 1, 2, 2]
    nyt = textdata.load_sentiment("test", domains=["nyt_editorials"])
    assert set(nyt.domains) == {"nyt_editorials"} and 0 < len(nyt.texts) < 4545
    with pytest.raises(ValueError, match="valid domains: tweets, movie_reviews"):
        textdata.load_sentiment(domains=["reddit"])


def test_intents_shapes_labels_and_splits():
    train, test = textdata.load_intents("train"), textdata.load_intents("test")
    assert train.names == test.names == sorted(textdata.INTENT_DESCRIPTIONS)
    assert (len(train.texts), len(test.texts)) == (450, 194)
    k = len(train.names)
    assert torch.bincount(train.labels, minlength=k).min() >= 14 and torch.bincount(test.labels, minlength=k).min() >= 6
    all_ = textdata.load_intents()
    assert torch.bincount(all_.labels, minlength=k).min() >= textdata.INTENT_MIN_MESSAGES
    assert not set(map(str.lower, train.texts)) & set(map(str.lower, test.texts))


def test_pretraining_texts_hold_no_test_sentence():
    corpus = textdata.pretraining_texts()
    keys = {t.lower() for t in corpus}
    assert len(keys) == len(corpus) > 20000
    test = textdata.load_sentiment("test").texts + textdata.load_intents("test").texts
    assert not keys & {t.lower() for t in test}
    assert {t.lower() for t in textdata.load_intents("train").texts} <= keys


def test_bad_split_and_missing_files_are_clear(tmp_path):
    with pytest.raises(ValueError, match="valid splits: train, test"):
        textdata.load_intents("validation")
    with pytest.raises(DatasetNotFoundError, match="build_text_data.py"):
        textdata.load_sentiment(root=tmp_path)
    with pytest.raises(DatasetNotFoundError, match="chatterbot-corpus==1.3.3"):
        textdata.load_intents(root=tmp_path)


def test_build_intent_rules():
    """First utterances only, case-insensitive dedup, ambiguous messages dropped, small categories out,
    30 % of each intent to test."""
    build = _build_script()
    utts = [("big", d, 0, f"Question {d}") for d in range(25)] + [("big", 0, 1, "a reply, never a message")]
    utts += [("big", 30, 0, "QUESTION 1")]                          # a case variant: same message
    utts += [("small", d, 0, f"small {d}") for d in range(5)]       # under INTENT_MIN_MESSAGES
    utts += [("big", 40, 0, "Hello"), ("small", 40, 0, "hello")]    # opens two categories: ambiguous
    rows, counts = build.intent_rows(utts)
    assert counts == {"big": 25, "small": 5}
    assert {r[1] for r in rows} == {"big"} and len(rows) == 25
    assert sum(r[0] == "test" for r in rows) == round(0.3 * 25)
    assert not any("reply" in r[2] or r[2].lower() == "hello" for r in rows)
