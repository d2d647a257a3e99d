import pytest
from IPython.display import Markdown

from widgets.book import glue


def test_glued_formats_what_was_glued(monkeypatch):
    monkeypatch.setattr(glue, "_values", {})
    glue.glue("ratio", 0.0078613)
    glue.glue("n", 400)
    glue.glue("expect", Markdown("≤ 0.05"))
    glue.glue("table", Markdown("| a |\n|---|\n| 1 |"))
    assert glue.glued("ratio", ".4f") == "0.0079"
    assert glue.glued("n", "") == "400" and glue.glued("n", ",d") == "400"
    assert glue.glued("expect") == "≤ 0.05"  # one line of Markdown stays inline, as text
    assert isinstance(glue.glued("table"), Markdown)  # several lines render as Markdown
    assert "run the cell" in glue.glued("not_yet", ".3f")


@pytest.mark.parametrize("text, expected", [
    ('glued("ratio", ".4f")', ("ratio", ".4f")),
    ("glued('n', '')", ("n", "")),
    ('glued("x_expect")', ("x_expect", None)),
    (' widgets.page.glued("a") ', ("a", None)),
])
def test_parse_glued_reads_the_two_forms(text, expected):
    assert glue.parse_glued(text) == expected


@pytest.mark.parametrize("text", ['glued(name)', 'glued("a", ".3f", "x")', 'glued()', '__import__("os")',
                                  'glued("a", fmt=".3f")', 'glued("a b")', "glued(", "1 + 1"])
def test_parse_glued_refuses_anything_else(text):
    with pytest.raises(ValueError, match="glued|Python"):
        glue.parse_glued(text)
