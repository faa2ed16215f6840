"""Real-shaped pages and PDFs: what their passages hold and what they must not.

The fixtures copy the shape of real material: a Sphinx page of the Python documentation with
its menus, sidebar, footer and "¶" permalinks; a page with highlighted code; a PDF with an
outline, a table of contents with dot leaders and words hyphenated across line breaks.
"""

from __future__ import annotations

import io
from pathlib import Path

from conftest import write_pdf
from pypdf import PdfReader, PdfWriter

from rsiqa.ingest.chunking import chunk_blocks
from rsiqa.ingest.loaders import load_bytes, load_file
from rsiqa.ingest.pdf import is_toc_line, join_lines, paragraphs

SPHINX_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8" />
<title>4. More Control Flow Tools &#8212; Python 3.11.2 documentation</title>
<link rel="canonical" href="https://docs.python.org/3/tutorial/controlflow.html" />
</head><body>
<div class="mobile-nav"><nav class="nav-content" role="navigation"><a href="https://www.python.org/" class="nav-logo">Python logo</a>
<form role="search" class="search" action="../search.html"><input type="text" name="q" aria-label="Quick search"/></form></nav>
<div class="menu-wrapper"><nav class="menu" role="navigation" aria-label="main navigation">
<h3><a href="../contents.html">Table of Contents</a></h3><ul><li><a href="#">4. More Control Flow Tools</a></li></ul>
<h4>Previous topic</h4><p class="topless"><a href="introduction.html">3. An Informal Introduction to Python</a></p>
<div role="note" aria-label="source link"><h3>This Page</h3><ul class="this-page-menu"><li><a href="../bugs.html">Report a Bug</a></li>
<li><a href="https://github.com/python/cpython/blob/3.11/Doc/tutorial/controlflow.rst">Show Source</a></li></ul></div>
</nav></div></div>
<div class="related" role="navigation" aria-label="related navigation"><h3>Navigation</h3><ul>
<li class="right"><a href="../genindex.html">index</a></li><li class="right"><a href="../py-modindex.html">modules</a> |</li>
<li class="right"><a href="datastructures.html">next</a> |</li><li class="right"><a href="introduction.html">previous</a> |</li>
<li><a href="https://www.python.org/">Python</a> &#187;</li></ul></div>
<div class="document"><div class="documentwrapper"><div class="bodywrapper"><div class="body" role="main">
<section id="more-control-flow-tools">
<span id="tut-morecontrol"></span><h1><span class="section-number">4. </span>More Control Flow Tools<a class="headerlink" href="#more-control-flow-tools" title="Permalink to this heading">¶</a></h1>
<p>Besides the <a class="reference internal" href="#"><code class="docutils literal notranslate"><span class="pre">while</span></code></a> statement just introduced, Python uses the usual
flow control statements known from other languages, with some twists.</p>
<section id="if-statements">
<span id="tut-if"></span><h2><span class="section-number">4.1. </span><code class="docutils literal notranslate"><span class="pre">if</span></code> Statements<a class="headerlink" href="#if-statements" title="Permalink to this heading">¶</a></h2>
<p>Perhaps the most well-known statement type is the <code class="docutils literal notranslate"><span class="pre">if</span></code> statement.</p>
</section>
<section id="for-statements">
<h2><span class="section-number">4.2. </span><code class="docutils literal notranslate"><span class="pre">for</span></code> Statements<a class="headerlink" href="#for-statements" title="Permalink to this heading">¶</a></h2>
<p>The <code class="docutils literal notranslate"><span class="pre">for</span></code> statement in Python differs a bit from what you may be used to in C or Pascal.
Rather than always iterating over an arithmetic progression of numbers (like in Pascal), or giving the user the
ability to define both the iteration step and halting condition (as C), Python&#8217;s for statement iterates over
the items of any sequence (a list or a string), in the order that they appear in the sequence. Code that modifies a
collection while iterating over that same collection can be tricky to get right. Instead, it is usually more
straight-forward to loop over a copy of the collection or to create a new collection, which is what the examples in
this section show for dictionaries of users and their status, keeping the active users only.</p>
</section>
<section id="the-range-function">
<h2><span class="section-number">4.3. </span>The <code class="docutils literal notranslate"><span class="pre">range()</span></code> Function<a class="headerlink" href="#the-range-function" title="Permalink to this heading">¶</a></h2>
<p>If you do need to iterate over a sequence of numbers, the built-in function <code class="docutils literal notranslate"><span class="pre">range()</span></code> comes in handy.
It generates arithmetic progressions. The given end point is never part of the generated sequence; range(10)
generates 10 values, the legal indices for items of a sequence of length 10. It is possible to let the range start
at another number, or to specify a different increment (even negative; sometimes this is called the step). To
iterate over the indices of a sequence, you can combine range() and len(), or use the enumerate() function, which
is more convenient in most such cases, as the examples in Looping Techniques show in some detail.</p>
<dl class="py function"><dt class="sig sig-object py" id="operator.lt">
<span class="sig-prename descclassname"><span class="pre">operator.</span></span><span class="sig-name descname"><span class="pre">lt</span></span><span class="sig-paren">(</span><em class="sig-param"><span class="n"><span class="pre">a</span></span></em>, <em class="sig-param"><span class="n"><span class="pre">b</span></span></em><span class="sig-paren">)</span><a class="headerlink" href="#operator.lt" title="Permalink to this definition">¶</a></dt>
<dd><p>Compare a and b.</p></dd></dl>
</section></section>
</div></div></div>
<div class="sphinxsidebar" role="navigation" aria-label="main navigation"><div class="sphinxsidebarwrapper">
<h4>Next topic</h4><p class="topless"><a href="datastructures.html">5. Data Structures</a></p></div></div>
<div class="clearer"></div></div>
<div class="footer">&copy; <a href="../copyright.html">Copyright</a> 2001-2026, Python Software Foundation.<br />
Last updated on October 07, 2026. <a href="/bugs.html">Found a bug</a>?<br />Created using <a href="https://www.sphinx-doc.org/">Sphinx</a> 5.3.0.</div>
</body></html>"""

FURNITURE = ["Previous topic", "Next topic", "This Page", "Report a Bug", "Show Source", "Table of Contents",
             "Navigation", "modules", "Quick search", "Copyright", "Last updated", "Created using", "Found a bug",
             "Python logo", "¶"]

CODE_PAGE = """<html><head><title>Formatted output | Example Docs</title>
<meta property="og:site_name" content="Example Docs" /></head><body><main>
<h1 id="output">Formatted output</h1>
<p>To use formatted string literals, begin a string with f or F before the opening quotation mark:</p>
<div class="highlight-python3 notranslate"><div class="highlight"><pre><span></span><span class="gp">&gt;&gt;&gt; </span><span class="n">year</span> <span class="o">=</span> <span class="mi">2016</span>
<span class="gp">&gt;&gt;&gt; </span><span class="n">event</span> <span class="o">=</span> <span class="s1">&#39;Referendum&#39;</span>
<span class="gp">&gt;&gt;&gt; </span><span class="sa">f</span><span class="s1">&#39;Results of the </span><span class="si">{</span><span class="n">year</span><span class="si">}</span><span class="s1"> </span><span class="si">{</span><span class="n">event</span><span class="si">}</span><span class="s1">&#39;</span>
<span class="go">&#39;Results of the 2016 Referendum&#39;</span>
</pre></div></div>
<p>A function body keeps its indentation:</p>
<pre>def fib(n):
    a, b = 0, 1
    while a &lt; n:
        print(a, end=' ')
        a, b = b, a+b</pre>
<p>That is all.</p>
</main></body></html>"""


def passages_of(doc, min_words: int = 90, max_words: int = 140):
    return chunk_blocks(doc.blocks, min_words, max_words, 250)


def test_a_sphinx_page_loses_its_menus_sidebar_footer_and_permalinks() -> None:
    doc = load_bytes(SPHINX_PAGE.encode(), "tutorial/controlflow.html")
    passages = passages_of(doc)
    text = "\n".join(p.text for p in passages)
    for furniture in FURNITURE:
        assert furniture not in text, furniture
        assert all(furniture not in (p.source.section or "") for p in passages), furniture
    assert doc.title == "4. More Control Flow Tools"  # the " — Python 3.11.2 documentation" suffix is gone
    assert "Python uses the usual flow control statements" in text
    assert "operator.lt(a, b)" in text  # inline parts joined as shown, not "operator. lt ( a , b )"


def test_sections_come_from_headings_with_their_anchors_and_small_ones_fill_a_passage() -> None:
    doc = load_bytes(SPHINX_PAGE.encode(), "tutorial/controlflow.html")
    passages = passages_of(doc)
    base = "https://docs.python.org/3/tutorial/controlflow.html"
    # the intro and the tiny "4.1. if Statements" share a passage: no heading-only passage, and the heading
    # of 4.2 opens 4.2's passage rather than close theirs
    first, second = passages[0], passages[1]
    assert first.source.url == f"{base}#more-control-flow-tools"
    assert first.source.section is None  # the page's own heading is its title
    assert "4.1. if Statements\nPerhaps the most well-known statement type" in first.text
    assert "4.2" not in first.text
    assert second.text.startswith("4.2. for Statements\nThe for statement in Python")
    assert second.source.section == "4.2. for Statements" and second.source.url == f"{base}#for-statements"
    assert all(len(p.text.split()) >= 20 for p in passages)
    range_passage = next(p for p in passages if "comes in handy" in p.text)
    assert range_passage.source.section == "4.3. The range() Function"
    assert range_passage.source.url == f"{base}#the-range-function"


FAQ_PAGE = """<html><head><title>Programming FAQ</title></head><body><main>
<h1 id="programming-faq">Programming FAQ</h1>
<section id="are-there-coding-standards"><h3>Are there coding standards or a style guide for Python programs?</h3>
<p>Yes. The coding style required for standard library modules is documented as PEP 8.</p></section>
<section id="core-language"><h2>Core Language</h2>
<section id="why-unboundlocalerror"><h3>Why am I getting an UnboundLocalError when the variable has a value?</h3>
<p>It can be a surprise to get the UnboundLocalError in previously working code when it is modified by adding an
assignment statement somewhere in the body of a function, as the examples below show for a global counter.</p>
<p>This is because when you make an assignment to a variable in a scope, that variable becomes local to that scope
and shadows any similarly named variable in the outer scope. Since the last statement in foo assigns a new value to
x, the compiler recognizes it as a local variable, and the earlier print fails with the error.</p>
<p>In the example above you can access the outer scope variable by declaring it global. This explicit declaration
is required in order to remind you that you are actually modifying the value of the variable in the outer scope,
unlike the superficially analogous situation with class and instance variables.</p>
</section></section></main></body></html>"""


def test_each_passage_of_merged_sections_is_named_after_the_section_that_gives_it_most_words() -> None:
    # A one-line answer ("Yes, PEP 8"), an empty "Core Language" heading and a long section are one merged block;
    # the long section's passages must not be named and linked after the one-line answer before them.
    doc = load_bytes(FAQ_PAGE.encode(), "faq/programming.html")
    passages = passages_of(doc, min_words=40, max_words=60)
    unbound = "Why am I getting an UnboundLocalError when the variable has a value?"
    assert len(passages) >= 3
    for passage in passages:
        assert not passage.text.endswith(("Core Language", unbound))  # a heading opens a passage, never ends one
        if "UnboundLocalError" in passage.text or "outer scope" in passage.text:
            assert passage.source.section == unbound
            assert passage.source.url == "faq/programming.html#why-unboundlocalerror"
    answer = next(p for p in passages if "PEP 8" in p.text)
    assert answer.source.section == "Are there coding standards or a style guide for Python programs?"
    assert answer.source.url == "faq/programming.html#are-there-coding-standards"


def test_a_small_section_before_a_long_one_joins_the_section_before_it() -> None:
    # On the real FAQ page a long answer comes first ("How can I create a stand-alone binary?"): the one-line PEP 8
    # answer ends that block with its question, and the UnboundLocalError answer opens its own passage at its start.
    binary = ('<section id="stand-alone-binary"><h3>How can I create a stand-alone binary from a Python script?</h3>'
              "<p>" + "You don't need the ability to compile Python to C code for a stand-alone program. " * 6 + "</p>"
              "</section>")
    standards = '<section id="are-there-coding-standards">'
    page = FAQ_PAGE.replace(standards, binary + standards)
    doc = load_bytes(page.encode(), "faq/programming.html")
    passages = passages_of(doc, min_words=40, max_words=120)
    unbound = "Why am I getting an UnboundLocalError when the variable has a value?"
    pep8 = next(p for p in passages if "PEP 8" in p.text)
    assert "Are there coding standards or a style guide for Python programs?\nYes. The coding style" in pep8.text
    assert "UnboundLocalError" not in pep8.text
    assert "Core Language" not in pep8.text  # a bare heading at a section's end is dropped
    first = next(p for p in passages if "UnboundLocalError" in p.text)
    assert first.text.startswith("It can be a surprise to get the UnboundLocalError")
    assert first.source.section == unbound and first.source.url == "faq/programming.html#why-unboundlocalerror"


def test_without_a_canonical_url_the_anchor_follows_the_file_path() -> None:
    page = SPHINX_PAGE.replace('<link rel="canonical" href="https://docs.python.org/3/tutorial/controlflow.html" />', "")
    doc = load_bytes(page.encode(), "tutorial/controlflow.html")
    assert {b.source.url for b in doc.blocks} == {"tutorial/controlflow.html#more-control-flow-tools",
                                                  "tutorial/controlflow.html#the-range-function"}
    assert {p.source.url for p in passages_of(doc)} == {"tutorial/controlflow.html#more-control-flow-tools",
                                                       "tutorial/controlflow.html#for-statements",
                                                       "tutorial/controlflow.html#the-range-function"}


def test_code_blocks_stay_verbatim_in_their_passage() -> None:
    doc = load_bytes(CODE_PAGE.encode(), "output.html")
    assert doc.title == "Formatted output"  # "| Example Docs" is the site's name
    [passage] = passages_of(doc)
    assert ">>> f'Results of the {year} {event}'\n'Results of the 2016 Referendum'" in passage.text
    assert "f 'Results of the { year }" not in passage.text
    assert "```\ndef fib(n):\n    a, b = 0, 1\n    while a < n:\n        print(a, end=' ')\n        a, b = b, a+b\n```" \
        in passage.text
    assert passage.text.startswith("To use formatted string literals")  # the lead-in stays with its code
    assert passage.text.endswith("That is all.")


def test_a_long_code_block_is_cut_only_at_line_ends() -> None:
    lines = [f"    total = total + value_{i} * weight_{i}  # step {i}" for i in range(60)]
    page = "<html><body><main><h1>Sum</h1><p>The loop:</p><pre>" + "\n".join(lines) + "</pre></main></body></html>"
    passages = passages_of(load_bytes(page.encode(), "sum.html"))
    assert len(passages) > 1
    kept = [line for p in passages for line in p.text.split("\n") if line.startswith("    total")]
    assert kept == lines  # every line whole, indented, in order
    assert all(p.text.count("```") == 2 for p in passages)  # each piece is fenced


def _pdf_with_outline(tmp_path: Path) -> Path:
    body = ("Recursive self-improvement is the manip-\n"
            "ulation of the design of a system by the sys-\n"
            "tem itself. A self-\n"
            "improvement loop can be fast or slow.\n")
    pages = [
        "Contents\nIntroduction ........ 2\nTakeoff speeds . . . . . . . 3",
        "Introduction\n" + body * 4,
        "Takeoff speeds\nA fast takeoff means days or weeks from human level to far beyond it, and a slow one years.\n"
        * 4,
    ]
    plain = write_pdf(tmp_path / "plain.pdf", pages)
    writer = PdfWriter(clone_from=PdfReader(plain))
    writer.add_outline_item("Introduction", 1)
    writer.add_outline_item("Takeoff speeds", 2)
    out = io.BytesIO()
    writer.write(out)
    path = tmp_path / "essay.pdf"
    path.write_bytes(out.getvalue())
    return path


def test_a_pdf_outline_names_sections_lines_are_joined_and_the_contents_page_dropped(tmp_path: Path) -> None:
    doc = load_file(_pdf_with_outline(tmp_path), "essay.pdf")
    sections = [b.source.section for b in doc.blocks]
    assert sections == ["Introduction", "Takeoff speeds"]
    text = "\n".join(p.text for p in passages_of(doc))
    assert "manipulation of the design of a system by the system itself." in text
    assert "manip-" not in text and "manip- ulation" not in text
    assert "self-improvement loop" in text  # a hyphen the text uses elsewhere stays
    assert "........" not in text and ". . . ." not in text
    assert "Contents" not in text


def test_pdf_line_rules() -> None:
    assert is_toc_line("2.1 Scope of the study ........ 17")
    assert is_toc_line("Appendix . . . . . . . iv")
    assert not is_toc_line("The end... of the story.")
    assert join_lines(["a manip-", "ulation here"]) == "a manipulation here"
    assert join_lines(["Bayes-", "Nash equilibria"]) == "Bayes-Nash equilibria"  # capital: a name, not a break
    paras = paragraphs(["This is a long line of running text that goes on for a while and", "ends here.",
                        "- a list item.", "Another paragraph starts here and runs to the end of the line",
                        "and finishes."])
    assert paras == ["This is a long line of running text that goes on for a while and ends here.",
                     "- a list item.", "Another paragraph starts here and runs to the end of the line and finishes."]
