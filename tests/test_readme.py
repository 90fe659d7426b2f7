"""The README's code blocks run as doctests, so that they cannot drift from the
library: every printed result in them is checked."""
import doctest
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_examples_run_and_print_what_they_say():
    failed, attempted = doctest.testfile(str(README), module_relative=False,
                                         optionflags=doctest.NORMALIZE_WHITESPACE)
    assert attempted >= 20, "the README lost its examples"
    assert failed == 0, f"{failed} of {attempted} README examples differ (see the output above)"


def test_docs_examples_run_and_print_what_they_say():
    """The examples of the pages that show code with results."""
    for page in ("layouts.md", "wgmma.md", "nvfp4.md"):
        path = README.parent / "docs" / page
        failed, attempted = doctest.testfile(str(path), module_relative=False,
                                             optionflags=doctest.NORMALIZE_WHITESPACE)
        assert attempted >= 3, f"docs/{page} lost its example"
        assert failed == 0, f"{failed} of {attempted} examples of docs/{page} differ"
