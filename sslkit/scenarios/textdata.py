"""The text scenarios' data: human-rated sentiment sentences and customer-service intents.

    from sslkit.scenarios import textdata
    texts, labels, ratings, domains = textdata.load_sentiment("train")   # 3 classes from mean human ratings
    texts, labels, names = textdata.load_intents("test")                 # user messages -> intent index
    corpus = textdata.pretraining_texts()                                # unlabelled sentences, no test text
    textdata.INTENT_DESCRIPTIONS["sports"]                              # for zero-shot matching

Both corpora ship in ``data/text/`` (built once by ``scripts/build_text_data.py`` from two PyPI
downloads; provenance and licences in ``data/text/README.md``), so everything works offline:

- sentiment: 23,555 sentences (tweets, movie reviews, product reviews, New York Times editorials)
  with the mean rating of about 20 people on a -4..+4 scale (Hutto & Gilbert, ICWSM 2014; MIT).
  Label: negative if rating <= -1, positive if rating >= +1, neutral in between
  (:data:`SENTIMENT_THRESHOLD`). Split by review / editorial, so no test sentence shares its
  document with a training sentence.
- intents: the first utterance of each English dialogue of ``chatterbot-corpus`` 1.3.3 (BSD),
  its file's category as the intent; categories with at least 20 distinct messages are kept.

Splits are fixed in the files (a hash of the text or document, not an RNG), so every notebook,
test and version of the libraries sees the same train and test sentences.
"""
from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path
from typing import NamedTuple

import torch

from sslkit.checks import check_choice
from sslkit.data import DatasetNotFoundError

SPLITS = ("train", "test")
SENTIMENT_CLASSES = ("negative", "neutral", "positive")
SENTIMENT_DOMAINS = ("tweets", "movie_reviews", "product_reviews", "nyt_editorials")
SENTIMENT_THRESHOLD = 1.0       # |mean rating| below this is neutral (scale -4..+4)
SENTIMENT_TEST_FRACTION = 0.2   # of the reviews / editorials / tweets (by a hash of the document id)
INTENT_MIN_MESSAGES = 20        # a category becomes an intent with at least this many distinct messages
INTENT_TEST_FRACTION = 0.3      # of each intent's messages (by a hash of the message)

# One line per intent, written for sslkit: what a user who needs this route talks about.
# Zero-shot classifiers compare a message with these; nothing else about an intent is given.
INTENT_DESCRIPTIONS = {
    "ai": "questions about artificial intelligence, robots, chatbots and what the bot is",
    "coding": "requests to write code or explain programming in Python and other languages",
    "conversations": "small talk: greetings, how are you, hobbies and everyday chat",
    "emotion": "statements and questions about feelings such as sadness, anger, love or fear",
    "literature": "questions about books, authors and famous writers",
    "movies": "questions about films, actors and movie characters",
    "psychology": "personal remarks about the bot's character, behaviour and mind",
    "science": "questions about science: physics, chemistry, biology and the universe",
    "sports": "talk about sports, games, teams and players such as soccer or basketball",
    "trivia": "general knowledge quiz questions about history, geography and famous facts",
}


class SentimentData(NamedTuple):
    texts: list[str]
    labels: torch.Tensor    # int64 (N,): index into SENTIMENT_CLASSES
    ratings: torch.Tensor   # float32 (N,): mean human rating in [-4, 4]
    domains: list[str]      # one of SENTIMENT_DOMAINS per sentence


class IntentData(NamedTuple):
    texts: list[str]
    labels: torch.Tensor    # int64 (N,): index into names
    names: list[str]        # the intents, sorted


def text_dir(root=None) -> Path:
    """Where the text corpora live: ``root``, else DATA_DIR/text (the repo's data/, or $SSLKIT_DATA)."""
    from sslkit import data

    return Path(root) if root is not None else Path(data.DATA_DIR) / "text"


def _read(name: str, root=None) -> list[dict]:
    path = text_dir(root) / name
    if not path.is_file():
        raise DatasetNotFoundError(
            f"{path} not found. The text corpora are part of the git repository (data/text/); to rebuild them:\n"
            f"  1. pip download --no-deps --no-binary :all: vaderSentiment==3.3.2 -d /tmp/text-src\n"
            f"  2. pip download --no-deps chatterbot-corpus==1.3.3 -d /tmp/text-src\n"
            f"  3. python scripts/build_text_data.py /tmp/text-src --out {text_dir(root)}")
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8")), delimiter="\t", quoting=csv.QUOTE_NONE))


def _check_split(split):
    if split is not None:
        check_choice("split", split, SPLITS)


def sentiment_label(ratings) -> torch.Tensor:
    """Mean ratings -> class index: 0 negative (<= -1), 1 neutral, 2 positive (>= +1)."""
    r = torch.as_tensor(ratings, dtype=torch.float32)
    return 1 + (r >= SENTIMENT_THRESHOLD).long() - (r <= -SENTIMENT_THRESHOLD).long()


def load_sentiment(split: str | None = None, domains=None, root=None) -> SentimentData:
    """Human-rated sentences: ``(texts, labels, ratings, domains)``; ``split`` "train", "test" or
    None (both, train first); ``domains`` keeps only those of :data:`SENTIMENT_DOMAINS`."""
    _check_split(split)
    keep = SENTIMENT_DOMAINS if domains is None else [check_choice("domain", d, SENTIMENT_DOMAINS) for d in domains]
    rows = [r for r in _read("sentiment.tsv.gz", root) if r["domain"] in keep]
    order = SPLITS if split is None else (split,)
    rows = [r for s in order for r in rows if r["split"] == s]
    return SentimentData([r["text"] for r in rows], torch.tensor([int(r["label"]) for r in rows]),
                         torch.tensor([float(r["rating"]) for r in rows]), [r["domain"] for r in rows])


def intent_names(root=None) -> list[str]:
    """The intents, sorted (label i is ``intent_names()[i]``)."""
    return sorted({r["intent"] for r in _read("intents.tsv", root)})


def load_intents(split: str | None = None, root=None) -> IntentData:
    """User messages and their intents: ``(texts, labels, names)``; ``split`` as in :func:`load_sentiment`."""
    _check_split(split)
    rows = _read("intents.tsv", root)
    names = sorted({r["intent"] for r in rows})
    order = SPLITS if split is None else (split,)
    rows = [r for s in order for r in rows if r["split"] == s]
    return IntentData([r["text"] for r in rows], torch.tensor([names.index(r["intent"]) for r in rows]), names)


def load_utterances(root=None) -> list[dict]:
    """Every utterance of the English chatterbot dialogues: dicts with category, dialogue, turn, text."""
    return [dict(r, dialogue=int(r["dialogue"]), turn=int(r["turn"])) for r in _read("utterances.tsv.gz", root)]


def pretraining_texts(root=None) -> list[str]:
    """The unlabelled corpus for text SSL: the sentiment training sentences and every dialogue
    utterance, minus any text that occurs in a test split (so pretraining never sees a test
    sentence, even unlabelled). Distinct texts, in file order."""
    test = {t.lower() for t in load_sentiment("test", root=root).texts + load_intents("test", root=root).texts}
    texts = load_sentiment("train", root=root).texts + [u["text"] for u in load_utterances(root)]
    seen, out = set(), []
    for t in texts:
        key = t.lower()
        if key not in test and key not in seen:
            seen.add(key)
            out.append(t)
    return out
