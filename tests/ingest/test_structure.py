"""The seed's layout: FAQ answer, questions, notes, linked posts and their comments."""

from rsiqa.ingest.structure import parse_text, title_from_filename, title_from_slug

SEED_LIKE = """Intro of the answer that explains the debate.

Alternative phrasings

A footnote that belongs to the answer.

Related

- E Might an "intelligence explosion" never occur?
- 📑 Why would the first AGI ever create or agree to the creati...

Scratchpad

Drafts at unknown dates

A note about terminology.

https://www.lesswrong.com/posts/abc123/why-all-the-fuss-about-rsi

The excerpt of the post says something.

comments:

A first comment. Meanwhile people already do this:

https://www.lesswrong.com/posts/xyz/maze-solving-agents

A second comment after the quoted link.

https://www.lesswrong.com/posts/def456/self-improvement-without-self-modification

you dont have to self modify to self improve
"""


def kinds(doc):
    return [(b.source.kind, b.source.title, b.source.url) for b in doc.blocks]


def test_faq_layout_gives_each_block_its_kind_and_source():
    doc = parse_text(SEED_LIKE, "seed.txt", "Seed")
    blocks = doc.blocks
    assert blocks[0].source.kind == "faq_answer" and blocks[0].source.url is None
    assert blocks[0].paragraphs == ["Intro of the answer that explains the debate.", "A footnote that belongs to the answer."]
    assert [b.source.kind for b in blocks[1:]] == ["note", "linked_post", "comment", "linked_post"]
    post, comments = blocks[2], blocks[3]
    assert post.source.url == "https://www.lesswrong.com/posts/abc123/why-all-the-fuss-about-rsi"
    assert post.source.title == "Why all the fuss about rsi"
    assert comments.source.url == post.source.url and comments.source.title == post.source.title


def test_url_quoted_inside_a_comment_is_not_a_new_post():
    doc = parse_text(SEED_LIKE, "seed.txt", "Seed")
    comments = doc.blocks[3]
    assert comments.paragraphs[0].endswith("do this: https://www.lesswrong.com/posts/xyz/maze-solving-agents")
    assert comments.paragraphs[1] == "A second comment after the quoted link."
    assert all("maze" not in (b.source.url or "") for b in doc.blocks)


def test_related_questions_are_kept_without_their_icons_and_not_indexed():
    doc = parse_text(SEED_LIKE, "seed.txt", "Seed")
    assert doc.questions == ['Might an "intelligence explosion" never occur?',
                             "Why would the first AGI ever create or agree to the creati..."]
    assert not any("intelligence explosion" in p for b in doc.blocks for p in b.paragraphs)


def test_a_short_unpunctuated_line_names_the_section_and_stays_as_text():
    doc = parse_text(SEED_LIKE, "seed.txt", "Seed")
    last = doc.blocks[-1]
    assert last.source.section == "you dont have to self modify to self improve"
    assert last.paragraphs == ["you dont have to self modify to self improve"]


def test_plain_markdown_is_a_document_with_heading_sections():
    doc = parse_text("# Intro\n\nSome text here.\n\n## Details\n\nMore text.", "a.md", "A")
    assert [(b.source.kind, b.source.section, b.paragraphs) for b in doc.blocks] == [
        ("document", "Intro", ["Some text here."]),
        ("document", "Details", ["More text."]),
    ]


def test_titles_from_slugs_and_file_names():
    assert title_from_slug("https://x.org/posts/1/is-rsi-relevant") == "Is rsi relevant"
    assert title_from_filename("my_notes-v2.md") == "My notes v2"


def test_the_default_corpus_has_four_linked_posts_and_one_quoted_link():
    from conftest import DEFAULT_CORPUS

    path = next(DEFAULT_CORPUS.glob("*.txt"))
    doc = parse_text(path.read_text(encoding="utf-8"), path.name, "Seed")
    posts = {b.source.url for b in doc.blocks if b.source.kind == "linked_post"}
    commented = {b.source.url for b in doc.blocks if b.source.kind == "comment"}
    assert len(posts) == 4 and commented <= posts and len(commented) == 3
    assert all("maze-solving" not in url for url in posts)
    assert doc.blocks[0].source.kind == "faq_answer"
    assert any("Stuart Armstrong posits" in p for b in doc.blocks if b.source.kind == "faq_answer" for p in b.paragraphs)


def test_a_heading_ends_a_linked_post_and_html_pdf_urls_are_text():
    text = "# Install\n\nGet it here.\n\nhttps://github.com/acme/widget\n\nIts readme.\n\n# Usage\n\nRun it."
    doc = parse_text(text, "guide.md", "Guide")
    assert [(b.source.kind, b.source.section) for b in doc.blocks] == [
        ("document", "Install"), ("linked_post", "Excerpt"), ("document", "Usage")]
    flat = parse_text(text, "page.html", "Page", linked_posts=False)
    assert {b.source.kind for b in flat.blocks} == {"document"}


def test_related_items_that_are_not_questions_stay_indexed_text():
    doc = parse_text("Plan text here.\n\nRelated\n\n- The schedule depends on hiring two engineers.\n", "plan.txt", "Plan")
    assert doc.questions == []
    assert doc.blocks[0].source.kind == "document"
    assert "- The schedule depends on hiring two engineers." in doc.blocks[0].paragraphs


# --- footnotes -----------------------------------------------------------------------------------

FOOTNOTED = """Prominent skeptics include:

- Chollet argued in 2017 that it cannot work in practice.[^1] Others agree.
- Chiang, who argues that AIs are like compilers[^2], says it stops at a point.

More text that carries no marker at all.

## Notes

[^1]: See also a rebuttal.
[^2]: Compilers bootstrap
    themselves.
"""


def paragraphs(doc):
    return [p for b in doc.blocks for p in b.paragraphs]


def test_a_markdown_footnote_joins_the_sentence_that_carries_its_marker():
    paras = paragraphs(parse_text(FOOTNOTED, "notes.md", "Notes"))
    assert ("- Chollet argued in 2017 that it cannot work in practice. (Footnote: See also a rebuttal.)"
            " Others agree.") in paras
    assert ("- Chiang, who argues that AIs are like compilers, says it stops at a point."
            " (Footnote: Compilers bootstrap themselves.)") in paras
    assert not any("[^" in p for p in paras)
    assert sum("See also a rebuttal." in p for p in paras) == 1  # the definition is gone from where it stood


def test_a_superscript_footnote_like_the_seed_is_attached_too():
    text = ("Skeptics include:\n\n- Chollet, who argued that it fails in practice.¹\n- Chiang.\n\n"
            "Alternative phrasings\n\n¹ See also Eliezer Yudkowsky's rebuttal.\n\nRelated\n\n- Why?\n")
    paras = paragraphs(parse_text(text, "faq.txt", "FAQ"))
    assert ("- Chollet, who argued that it fails in practice."
            " (Footnote: See also Eliezer Yudkowsky's rebuttal.)") in paras
    assert not any(p.startswith(("¹", "See also")) for p in paras)


def test_a_marker_without_definition_is_removed_and_superscripts_without_one_stay():
    text = "A claim[^9] stands here. Growth is n² at worst.\n\n¹ Not a footnote: no marker.\n"
    paras = paragraphs(parse_text(text, "a.md", "A"))
    assert paras == ["A claim stands here. Growth is n² at worst.", "¹ Not a footnote: no marker."]


def test_a_footnote_definition_never_becomes_a_passage_of_its_own():
    from rsiqa.ingest.chunking import chunk_blocks

    doc = parse_text(FOOTNOTED, "notes.md", "Notes")
    texts = [p.text for p in chunk_blocks(doc.blocks, min_words=1, max_words=40)]
    assert not any(t.startswith(("See also", "[^", "Compilers bootstrap")) for t in texts)
    holder = next(t for t in texts if "Chollet" in t)
    assert "in practice. (Footnote: See also a rebuttal.)" in holder


# --- titles from slugs ---------------------------------------------------------------------------

SLUG_TEXT = """Some say AGI systems will need alignment. An AI could do it. Others talk of LLMs and AlphaGo.

Recursive self-improvement is debated; self-improvement may be hard. One writer says self improve.

https://x.org/posts/1/agi-systems-and-humans-will-both-need-to-solve-the-alignment

The first post.

https://x.org/posts/2/why-all-the-fuss-about-recursive-self-improvement

The second post.

https://x.org/posts/3/do-llms-beat-alphago-at-the

The third post.
"""


def test_slug_titles_spell_acronyms_as_the_text_does():
    titles = [b.source.title for b in parse_text(SLUG_TEXT, "s.md", "S").blocks if b.source.url]
    assert titles[0] == "AGI systems and humans will both need to solve the alignment"
    assert titles[2] == "Do LLMs beat AlphaGo at the…"  # a slug cut after "the" shows it
    # a capital that only starts a sentence or a line says nothing about the word
    assert title_from_slug("https://x.org/the-ai-and-agi", "Ai is new. Ai again.\nAgi too.") == "The ai and agi"


def test_a_long_slug_cut_short_is_completed_by_the_word_the_text_writes_after_it():
    slug = "https://x.org/posts/1/agi-systems-and-humans-will-both-need-to-solve-the-alignment"  # 60 characters
    text = "I expect AGI systems to want/need to solve the alignment problem in order to keep their goals."
    assert title_from_slug(slug, text) == "AGI systems and humans will both need to solve the alignment problem"
    # not when the next word needs more words after it, nor when the text's words after the run disagree
    assert title_from_slug(slug, "They need to solve the alignment of their goals.") == \
        "Agi systems and humans will both need to solve the alignment"
    disagree = "We need to solve the alignment problem. Then we need to solve the alignment puzzle. Or solve the alignment."
    assert title_from_slug(slug, disagree).endswith("solve the alignment")
    # a short slug is the whole title: the text going on after it says nothing
    assert title_from_slug("https://x.org/p/why-all-the-fuss", "Why all the fuss today?") == "Why all the fuss"
    # the run must be three words at least: "the alignment problem" alone does not count
    assert title_from_slug(slug, "Then the alignment problem.").endswith("solve the alignment")


def test_slug_titles_hyphenate_words_the_text_hyphenates():
    titles = [b.source.title for b in parse_text(SLUG_TEXT, "s.md", "S").blocks if b.source.url]
    assert titles[1] == "Why all the fuss about recursive self-improvement"
    assert title_from_slug("https://x.org/p/self-improve", SLUG_TEXT) == "Self improve"  # written apart there
    assert title_from_filename("recursive-self-improvement-notes.md", SLUG_TEXT) == "Recursive self-improvement notes"


# --- emphasis and page furniture ---------------------------------------------------------------


def test_emphasis_marks_are_dropped_and_glued_words_get_their_space():
    text = ("RSI is the **biggest**, **sharpest break-with-the-past**contributing factor, *the* push, "
            "_really_ and ***both***.\n\nA **bold *nested* claim** here.")
    assert paragraphs(parse_text(text, "a.md", "A")) == [
        "RSI is the biggest, sharpest break-with-the-past contributing factor, the push, really and both.",
        "A bold nested claim here.",
    ]


def test_what_is_not_emphasis_stays():
    kept = ("Call snake_case_name or __init__ with 2*3 and 2*3*4, a * b * c, x**2 + y**2, `*code*`"
            " and https://x.org/_a_/b")
    assert paragraphs(parse_text(f"*Note*: {kept}.", "a.md", "A")) == [f"Note: {kept}."]


def test_page_furniture_lines_are_dropped_but_real_list_items_stay():
    text = """First paragraph of real text.

•••

...

+ more posts

Second paragraph.
+ a list of ways

Third paragraph.

+ Models improve themselves in small steps.

Options to compare:

+ fast takeoff
+ slow takeoff
"""
    assert paragraphs(parse_text(text, "a.md", "A")) == [
        "First paragraph of real text.",
        "Second paragraph.",
        "Third paragraph.",
        "+ Models improve themselves in small steps.",
        "Options to compare:",
        "+ fast takeoff",
        "+ slow takeoff",
    ]
