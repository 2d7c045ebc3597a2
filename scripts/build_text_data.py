"""Build data/text/ (the text scenarios' corpora) from the two PyPI downloads, once.

    mkdir -p /tmp/text-src && cd /tmp/text-src
    pip download --no-deps --no-binary :all: vaderSentiment==3.3.2     # the sdist: the wheel lacks the data
    pip download --no-deps chatterbot-corpus==1.3.3
    cd - && python scripts/build_text_data.py /tmp/text-src            # writes data/text/*

Inputs (found in the given folder, checked against the SHA-256 below):
- vaderSentiment-3.3.2.tar.gz -> additional_resources/hutto_ICWSM_2014.tar.gz -> the four
  ``*_GroundTruth.txt`` files (id, mean human rating in [-4, 4], text; tab-separated).
- chatterbot_corpus-1.3.3-py2.py3-none-any.whl -> chatterbot_corpus/data/english/*.yml.

Outputs (data/text/):
- sentiment.tsv.gz: split, domain, id, rating, label, text (one human-rated sentence a row);
- intents.tsv: split, intent, text (the first utterance of each dialogue of the kept categories);
- utterances.tsv.gz: category, dialogue, turn, text (every English utterance: unlabelled text).

Every choice that shapes the data (label thresholds, which intents, the splits) is made here and
documented in data/text/README.md; the loaders in sslkit.scenarios.textdata only read the files.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import html
import io
import re
import sys
import tarfile
import zipfile
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from sslkit.scenarios.textdata import (INTENT_MIN_MESSAGES, INTENT_TEST_FRACTION, SENTIMENT_TEST_FRACTION,  # noqa: E402
                             sentiment_label)

VADER = ("vaderSentiment-3.3.2.tar.gz", "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9")
CHATTERBOT = ("chatterbot_corpus-1.3.3-py2.py3-none-any.whl",
              "86de5300afb9a80826386339d3bec79c0a72eb0358abb8327e2ecef5ae0ce154")
# file stem in hutto_ICWSM_2014/ -> domain name; sentences of one review / editorial share a group
DOMAINS = {"tweets": "tweets", "movieReviewSnippets": "movie_reviews",
           "amazonReviewSnippets": "product_reviews", "nytEditorialSnippets": "nyt_editorials"}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def unit_hash(key: str) -> float:
    """A number in [0, 1) fixed by ``key``: splits that depend on no RNG and no library version."""
    return int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:12], 16) / 16 ** 12


def clean(text: str) -> str:
    """One line, single spaces, HTML entities (&amp; in the tweets) decoded."""
    return " ".join(html.unescape(str(text)).split())


def find(src: Path, name_and_hash) -> Path:
    name, expected = name_and_hash
    path = src / name
    if not path.is_file():
        sys.exit(f"{path} not found; see this script's docstring for the pip download commands")
    if sha256(path) != expected:
        sys.exit(f"{path} has SHA-256 {sha256(path)}, expected {expected}: not the release this script knows")
    return path


def sentiment_rows(sdist: Path) -> list[tuple]:
    with tarfile.open(sdist) as outer:
        inner_bytes = outer.extractfile("vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz").read()
    rows, seen, dropped = [], set(), 0
    with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
        for stem, domain in DOMAINS.items():
            raw = inner.extractfile(f"hutto_ICWSM_2014/{stem}_GroundTruth.txt").read().decode("utf-8")
            for line in raw.splitlines():
                if not line.strip():
                    continue
                sid, rating, text = line.split("\t")
                text = clean(text)
                if text.lower() in seen:  # exact duplicates would straddle the split
                    dropped += 1
                    continue
                seen.add(text.lower())
                group = sid.split("_")[0]  # "12_3" = sentence 3 of review / editorial 12
                split = "test" if unit_hash(f"{domain}:{group}") < SENTIMENT_TEST_FRACTION else "train"
                rows.append((split, domain, sid, float(rating), text))
    print(f"sentiment: {len(rows)} sentences ({dropped} exact duplicates dropped)")
    return rows


def chatterbot_dialogues(wheel: Path) -> list[tuple]:
    import yaml

    out = []
    with zipfile.ZipFile(wheel) as z:
        names = sorted(n for n in z.namelist() if re.fullmatch(r"chatterbot_corpus/data/english/[^/]+\.yml", n))
        for name in names:
            category = Path(name).stem
            doc = yaml.safe_load(z.read(name))
            for d, conv in enumerate(doc.get("conversations") or []):
                for t, utterance in enumerate(conv):
                    out.append((category, d, t, clean(utterance)))
    return out


def intent_rows(utterances: list[tuple]) -> tuple[list[tuple], dict]:
    """First utterances, deduplicated; a message that opens dialogues of two categories is
    ambiguous and dropped; categories with at least INTENT_MIN_MESSAGES messages are the intents."""
    cats = defaultdict(set)
    for category, _, turn, text in utterances:
        if turn == 0:
            cats[text.lower()].add((category, text))
    by_intent, ambiguous = defaultdict(list), []
    for key, found in cats.items():
        categories = {c for c, _ in found}
        if len(categories) > 1:
            ambiguous.append(key)
            continue
        category, text = sorted(found)[0]  # case variants of one message: keep one
        by_intent[category].append(text)
    counts = {c: len(v) for c, v in sorted(by_intent.items(), key=lambda kv: -len(kv[1]))}
    rows = []
    for intent in sorted(c for c, n in counts.items() if n >= INTENT_MIN_MESSAGES):
        messages = sorted(by_intent[intent], key=lambda m: unit_hash(f"{intent}:{m}"))
        n_test = round(INTENT_TEST_FRACTION * len(messages))
        rows += [("test" if i < n_test else "train", intent, m) for i, m in enumerate(messages)]
    print(f"intents: {len(rows)} messages in {len({r[1] for r in rows})} intents; "
          f"{len(ambiguous)} ambiguous messages dropped ({', '.join(sorted(ambiguous))}); counts per category: {counts}")
    return rows, counts


def write_tsv(path: Path, header: tuple, rows: list[tuple]) -> None:
    for row in rows:
        assert not any("\t" in str(v) or "\n" in str(v) for v in row), row
    body = "\t".join(header) + "\n" + "".join("\t".join(map(str, r)) + "\n" for r in rows)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(body.encode("utf-8"), mtime=0))  # mtime 0: same bytes every build
    else:
        path.write_text(body, encoding="utf-8")
    print(f"wrote {path} ({path.stat().st_size:,} bytes, {len(rows)} rows)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src", type=Path, help="folder holding the two pip downloads")
    parser.add_argument("--out", type=Path, default=REPO / "data" / "text")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    sentiment = sentiment_rows(find(args.src, VADER))
    labels = sentiment_label([r[3] for r in sentiment]).tolist()
    write_tsv(args.out / "sentiment.tsv.gz", ("split", "domain", "id", "rating", "label", "text"),
              [(s, d, i, f"{r:g}", lab, t) for (s, d, i, r, t), lab in zip(sentiment, labels)])

    utterances = chatterbot_dialogues(find(args.src, CHATTERBOT))
    intents, _ = intent_rows(utterances)
    write_tsv(args.out / "intents.tsv", ("split", "intent", "text"), intents)
    write_tsv(args.out / "utterances.tsv.gz", ("category", "dialogue", "turn", "text"), utterances)


if __name__ == "__main__":
    main()
