"""Chat-message HTML: corpus and user text escaped, only http(s) links, citations as footnotes."""

from __future__ import annotations

import re

import pytest

from rsiqa.search.schema import Answer, Citation, SourceOut
from rsiqa.ui.render import (
    answer_html,
    answer_markdown,
    link_html,
    marked_passage_html,
    question_html,
    safe_url,
    text_html,
)

PAYLOAD = "<img src=x onerror=alert(1)>"


def _citation(n: int = 1, text: str = "First sentence. The key claim here.", highlight: str = "The key claim here.",
              url: str | None = "https://www.lesswrong.com/posts/abc/post", title: str = "A post",
              kind: str = "linked_post", section: str | None = "Excerpt") -> Citation:
    source = SourceOut(title=title, url=url, section=section, kind=kind, kind_label="excerpt of a linked post",
                       path="notes.md")
    return Citation(n=n, text=text, score=0.5, chunk_id=f"c{n}", highlight=highlight, source=source)


def _answer(*citations: Citation, text: str = "The key claim here. [1]") -> Answer:
    return Answer(question="q", answer=text, abstained=False, citations=list(citations))


@pytest.mark.parametrize("url", [
    "javascript:alert(1)", "JAVASCRIPT:alert(1)", " javascript:alert(1)", "data:text/html,<script>alert(1)</script>",
    "vbscript:x", "//evil.example/x", "/relative/path", "https://", 'https://a.example/"onmouseover="alert(1)',
    "https://a.example/x y", "https://a.example/\nx", "ftp://a.example/x", "", None,
])
def test_unsafe_urls_are_refused(url: str | None) -> None:
    assert safe_url(url) is None


@pytest.mark.parametrize("url", ["https://www.lesswrong.com/posts/abc/post?x=1&y=2#c", "http://example.org/"])
def test_http_urls_are_kept(url: str) -> None:
    assert safe_url(url) == url


def test_link_escapes_url_and_label_and_drops_unsafe_urls() -> None:
    link = link_html("A & <b>B</b>", "https://example.org/?a=1&b=2")
    assert link.startswith('<a class="rsiqa-title" href="https://example.org/?a=1&amp;b=2" target="_blank"')
    assert ">A &amp; &lt;b&gt;B&lt;/b&gt;</a>" in link
    assert link_html("Title", "javascript:alert(1)") == '<span class="rsiqa-title">Title</span>'


def test_text_is_escaped_and_kept_on_one_line() -> None:
    html = text_html(f'{PAYLOAD}\n\n"quoted" & \'single\'\r\nend')
    assert html == "&lt;img src=x onerror=alert(1)&gt;<br><br>&quot;quoted&quot; &amp; &#x27;single&#x27;<br>end"
    assert "\n" not in html


def test_highlight_is_marked_inside_the_escaped_passage() -> None:
    html = marked_passage_html(f"Before {PAYLOAD}. The <key> claim. After.", "The <key> claim.")
    assert html == "Before &lt;img src=x onerror=alert(1)&gt;. <mark>The &lt;key&gt; claim.</mark> After."
    assert marked_passage_html("No match here.", "Other sentence.") == "No match here."


def test_answer_html_has_numbered_linked_footnotes_with_kind_and_passage() -> None:
    html = answer_html(_answer(_citation(1), _citation(2, url=None, title="Notes", kind="note", section="Drafts"),
                               text="The key claim here. [1] Notes say more. [2]"))
    assert '<sup class="rsiqa-ref"><a class="rsiqa-ref-link" href="#rsiqa-' in html
    assert ('<span class="rsiqa-n">[1]</span> '
            '<a class="rsiqa-title" href="https://www.lesswrong.com/posts/abc/post"') in html
    assert "(excerpt of a linked post)" in html  # the section "Excerpt" only repeats the kind
    assert '<span class="rsiqa-n">[2]</span> <span class="rsiqa-title">Notes</span>' in html
    assert ", Drafts)" in html
    assert "<details class=\"rsiqa-passage\"><summary>Passage</summary><blockquote id=\"rsiqa-" in html and ">First sentence. " \
           "<mark>The key claim here.</mark></blockquote></details>" in html
    assert "\n" not in html  # one raw HTML block: Markdown never applies inside it


def test_corpus_markup_in_every_field_is_escaped() -> None:
    citation = _citation(text=f"Text {PAYLOAD} here.", highlight=f"Text {PAYLOAD} here.", title=f"Title {PAYLOAD}",
                         section=f"Section {PAYLOAD}", kind="note")
    citation.source.kind_label = f"label {PAYLOAD}"
    html = answer_html(_answer(citation, text=f"Answer {PAYLOAD} [1]"))
    assert "<img" not in html and html.count("&lt;img src=x onerror=alert(1)&gt;") == 11  # + the [1] preview, + 5 in the copy payload


def test_abstained_answer_says_so_and_escapes() -> None:
    answer = Answer(question="q", answer=f"The material does not cover that {PAYLOAD}.", abstained=True)
    html = answer_html(answer)
    assert "Not covered by the material" in html and "rsiqa-abstained" in html  # a decline in other words: titled
    assert "<img" not in html and "<ol" not in html


def test_a_decline_says_it_once_in_bold() -> None:
    from rsiqa.settings import DEFAULT_DECLINE

    html = answer_html(Answer(question="q", answer=DEFAULT_DECLINE, abstained=True))
    shown = html.split('<p class="rsiqa-actions">')[0]  # the message, without the hidden copy of it
    assert "<strong>The material does not cover that.</strong> rsiqa answers from the debate" in shown
    assert "Not covered by the material" not in html and shown.count("does not cover") == 1


def test_question_is_shown_as_text() -> None:
    assert question_html(f"Why **bold** {PAYLOAD}?\n\nnext") == (
        '<div class="rsiqa-question">Why **bold** &lt;img src=x onerror=alert(1)&gt;?<br><br>next</div>')


def test_titles_and_sections_with_blank_lines_stay_on_one_line() -> None:
    """A title like an untidy page's `<title>\\n Foo\\n\\n Bar</title>` must not break the message in two."""
    citation = _citation(title="\n  Foo\n\n  Bar\r\n", section="Part\n\none", kind="note")
    html = answer_html(_answer(citation))
    assert "\n" not in html and "\r" not in html
    assert ">Foo Bar</a>" in html and ", Part one)" in html


def test_the_chat_never_renders_markdown() -> None:
    """Markdown in corpus or user text would make requests (images) and links: the chat shows HTML only."""
    from rsiqa.ui.chat import build_chat

    blocks = build_chat(lambda question, history: _answer(_citation()))
    chatbots = [block for block in blocks.blocks.values() if type(block).__name__ == "Chatbot"]
    assert len(chatbots) == 1 and chatbots[0].render_markdown is False and chatbots[0].sanitize_html is True


def test_sources_are_the_cited_passages_and_the_others_are_more_passages() -> None:
    answer = _answer(_citation(1), _citation(2, title="Second"), _citation(3, title="Third"),
                     text="The key claim here. [2]")
    html = answer_html(answer)
    sources, more = html.split('<details class="rsiqa-more">')
    assert '<span class="rsiqa-n">[2]</span>' in sources and "[1]</span>" not in sources and "[3]</span>" not in sources
    assert more.startswith("<summary>More passages (2)</summary>")
    assert '<span class="rsiqa-n">[1]</span>' in more and '<span class="rsiqa-n">[3]</span>' in more


def test_an_answer_citing_every_passage_has_no_more_passages() -> None:
    html = answer_html(_answer(_citation(1), _citation(2), text="One. [1] Two. [2]"))
    assert "rsiqa-more" not in html and html.count('class="rsiqa-citation"') == 2


def test_markers_link_to_their_passage_with_a_preview() -> None:
    html = answer_html(_answer(_citation(1, highlight=f"The {PAYLOAD} claim.", text=f"Text. The {PAYLOAD} claim."),
                               text="The claim. [1] Unknown marker [7]."))
    target = re.search(r'<blockquote id="(rsiqa-[0-9a-f]+-1)">', html)
    assert target, html
    assert f'href="#{target.group(1)}" title="The &lt;img src=x onerror=alert(1)&gt; claim."' in html
    assert '<sup class="rsiqa-ref">[7]</sup>' in html  # a number with no passage is no link


def test_source_line_shows_author_and_date_when_known() -> None:
    citation = _citation(kind="document", section=None)
    citation.source.author, citation.source.date = "Ada <Lovelace>", "2024-05-01"
    html = answer_html(_answer(citation))
    assert '<span class="rsiqa-byline">Ada &lt;Lovelace&gt;, 2024-05-01</span>' in html
    assert "rsiqa-byline" not in answer_html(_answer(_citation()))


def test_copy_payload_is_the_answer_with_its_cited_sources_as_markdown_footnotes() -> None:
    cited = _citation(1, highlight="The key claim here.")
    cited.source.author = "Ada"
    answer = _answer(cited, _citation(2, title="Not cited"), text="The key claim here. [1]")
    assert answer_markdown(answer) == (
        "The key claim here. [^1]\n\n[^1]: [A post](<https://www.lesswrong.com/posts/abc/post>) "
        '(excerpt of a linked post, Ada). "The key claim here."')
    html = answer_html(answer)
    assert '<button type="button" class="rsiqa-copy"' in html and "\n" not in html
    assert '<pre class="rsiqa-copy-text">The key claim here. [^1]&#10;&#10;[^1]: [A post]' in html


def test_a_quoted_code_block_is_shown_as_code_with_its_lines_and_indentation() -> None:
    code = 'def f(a, L=[]):\n    L.append(a)  # <b>not bold</b>\n    return L'
    answer = _answer(_citation(), text=f"The FAQ answer says: The function accumulates:\n```\n{code}\n```\n[1]")
    shown = answer_html(answer)
    block = re.search(r'<pre class="rsiqa-code"><code>(.*?)</code></pre>', shown, re.S)
    assert block and block.group(1) == code.replace("<", "&lt;").replace(">", "&gt;").replace("\n", "&#10;")
    assert "\n" not in block.group(1)  # the chat component would dedent the lines of a message
    assert "```" not in shown.split('class="rsiqa-copy-text"')[0]  # the fences are not shown as text
    assert "The function accumulates:" in shown and 'href="#rsiqa-' in shown  # the prose and its [1] link
