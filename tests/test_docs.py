"""The docs say what the code does: the methods tables are the ones the classes render, and README stays short."""
import re
from pathlib import Path

import pytest

from sslkit.methods import table

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("doc, full", [("README.md", False), ("docs/methods.md", True)])
def test_methods_tables_are_rendered_from_the_classes(doc, full):
    """A method added to sslkit.methods changes these tables; re-render them with the command in the marker."""
    text = (REPO / doc).read_text()
    command = "python -m sslkit methods" + (" --full" if full else "")
    found = re.search(rf"<!-- methods: {re.escape(command)} -->\n(.*?)\n<!-- /methods -->", text, re.S)
    assert found, f"{doc} lacks the block <!-- methods: {command} --> ... <!-- /methods -->"
    assert found.group(1) == table(full=full), f"{doc}: the methods table is stale; paste the output of `{command}`"


def test_readme_is_short_and_links_to_the_docs():
    readme = (REPO / "README.md").read_text()
    assert len(readme.encode()) <= 12 * 1024
    assert "make test" in readme and "make run" in readme
    for path in (REPO / "docs").glob("*.md"):
        assert f"docs/{path.name}" in readme, f"README does not link docs/{path.name}"
    for link in re.findall(r"\]\(((?:docs/)?[\w./-]+\.md)(?:#[\w-]+)?\)", readme):
        assert (REPO / link).is_file(), link
