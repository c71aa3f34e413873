"""The shared escaping helpers behind every text format."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from maa_guard.reporters.text import csv_cell, inert, markdown, one_line


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[2J", "\\x1b[2J"),
        ("a\rb", "a\\x0db"),
        ("bell\x07", "bell\\x07"),
        ("del\x7f", "del\\x7f"),
        ("c1\x9b31m", "c1\\x9b31m"),
        ("\u202eevil", "\\u202eevil"),
        ("zero\u200bwidth", "zero\\u200bwidth"),
        ("tab\tand\nnewline", "tab\tand\nnewline"),
        ("Zoë — ✓", "Zoë — ✓"),
        ("\u2067isolate\u2069", "\\u2067isolate\\u2069"),
        (
            "emoji \U0001f469\u200d\U0001f4bb, ZWNJ \u0645\u200c\u06cc",
            "emoji \U0001f469\u200d\U0001f4bb, ZWNJ \u0645\u200c\u06cc",
        ),
    ],
)
def test_inert_shows_control_and_format_characters(raw: str, shown: str) -> None:
    assert inert(raw) == shown


def test_inert_output_is_always_valid_xml_text() -> None:
    every_bmp = "".join(chr(c) for c in range(0x10000))
    element = ET.Element("x", value=inert(every_bmp))
    element.text = inert(every_bmp)
    ET.fromstring(ET.tostring(element, encoding="unicode"))


def test_one_line_folds_whitespace() -> None:
    assert one_line("  first\n\tsecond\r\n") == "first second\\x0d"


@pytest.mark.parametrize(
    ("raw", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\\x0dcmd"),
        ("plain = text", "plain = text"),
        ("\x1b[31mred", "\\x1b[31mred"),
    ],
)
def test_csv_cell_neutralises_formulas(raw: str, cell: str) -> None:
    assert csv_cell(raw) == cell


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("| pipe", "\\| pipe"),
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("`code`", "\\`code\\`"),
        ("*bold* _it_", "\\*bold\\* \\_it\\_"),
        ("[link](http://x)", "\\[link\\](http://x)"),
        ("~~strike~~", "\\~\\~strike\\~\\~"),
        ("back\\slash", "back\\\\slash"),
        ("&amp;", "&amp;amp;"),
        ("two\nlines", "two lines"),
        ("\x1b[2J", "\\\\x1b\\[2J"),
    ],
)
def test_markdown_renders_literally(raw: str, escaped: str) -> None:
    assert markdown(raw) == escaped
