"""The `rsiqa` command line: build the index, ask questions, evaluate, serve."""

from __future__ import annotations

import logging
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

import click

from rsiqa import __version__

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class FriendlyGroup(click.Group):
    """A click group that turns errors into one line (and exit 1) unless --debug is given."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            from rsiqa.serve.terminal import visible

            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            click.echo(f"Error: {visible(message)}", err=True)
            click.echo("(run with --debug for the full traceback)", err=True)
            ctx.exit(1)


def _settings(**overrides: Any):
    from rsiqa.settings import Settings

    return Settings(**{k: v for k, v in overrides.items() if v is not None})


@click.group(cls=FriendlyGroup, context_settings=CONTEXT)
@click.version_option(__version__, prog_name="rsiqa")
@click.option("--debug", is_flag=True, help="Show full tracebacks and debug logs.")
@click.option("-v", "--verbose", is_flag=True, help="Log what happens (INFO level).")
def cli(debug: bool, verbose: bool) -> None:
    """rsiqa answers questions about the debate on recursive self-improvement, citing its sources.

    \b
    Typical use:
      rsiqa build                      # index corpus/ into index/
      rsiqa ask "Would an AGI need its full codebase to self-improve?"
      rsiqa serve                      # chat page + REST API on http://127.0.0.1:8000
      rsiqa eval questions.jsonl       # retrieval figures on a question set

    Every option also has a setting: RSIQA_CORPUS_DIR, RSIQA_INDEX_DIR, RSIQA_MODEL, RSIQA_TOP_K, ...
    """
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("bm25s", "sentence_transformers", "transformers", "httpx", "faiss"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


@cli.command()
@click.option("--corpus", "corpus_dir", type=click.Path(path_type=Path, readable=False),  # checked by check_corpus_dir
              help="Folder of .md/.txt/.html/.pdf files [corpus/].")
@click.option("--index", "index_dir", type=click.Path(path_type=Path), help="Where to write the index [index/].")
@click.option("--model", help="Embedding model name or folder [all-MiniLM-L6-v2, the packaged copy].")
@click.option("--if-stale", is_flag=True, help="Do nothing when the index is already built from this corpus.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def build(corpus_dir: Path | None, index_dir: Path | None, model: str | None, if_stale: bool, quiet: bool) -> None:
    """Rebuild the index from the corpus folder.

    Reads every .md, .txt, .html and .pdf file below the corpus folder, cuts it into
    sentence-aware passages, embeds them and writes a FAISS index. The new index is written
    beside the old one and swapped in only when complete; a failed build leaves the previous
    index serving. Files that cannot be read are skipped and listed with the reason.
    Passages whose text did not change are not embedded again.

    Vectors are stored in fp32 (RSIQA_INDEX_PRECISION=int8 builds about twice
    as fast, ranking slightly less like torch); questions are embedded in int8
    (RSIQA_EMBEDDING_PRECISION). A killed build resumes where it stopped. With RSIQA_STORE=milvus
    the vectors go to Milvus collections (RSIQA_MILVUS_URI) and only changed
    files are written again.

    \b
    Example:
      rsiqa build --corpus corpus/ --index index/
    """
    from rsiqa.index.build import build_index, index_is_current
    from rsiqa.index.embedding import embedder_for, prepare_model
    from rsiqa.settings import index_settings
    from rsiqa.index.target import check_build_target
    from rsiqa.ingest.loaders import check_corpus_dir
    from rsiqa.serve.terminal import visible

    settings = _settings(corpus_dir=corpus_dir, index_dir=index_dir, model=model)
    check_corpus_dir(settings.corpus_dir)  # missing or unreadable: one line, before the slow model load
    check_build_target(settings.corpus_dir, settings.index_dir)  # never replace a folder that is not an index
    prepare_model(settings)  # the one-time ONNX export happens here, not in the first `rsiqa serve`
    if if_stale and index_is_current(settings):
        click.echo(f"Index in {visible(str(settings.index_dir))} is up to date with {visible(str(settings.corpus_dir))}; "
                   "nothing to do.")
        return
    embedder = embedder_for(index_settings(settings), lazy=True)  # loaded only if some text is new
    # --if-stale found the index stale: build_index's own "unchanged" check (the same test) cannot succeed.
    report = build_index(settings, embedder, progress=not quiet, reuse_unchanged=not if_stale)
    click.echo(
        f"Indexed {report.passages} passages from {report.documents} document(s) into {visible(str(settings.index_dir))} "
        f"in {report.seconds:.1f}s ({report.embedded} texts embedded, {report.reused} reused"
        + (f", {report.resumed} of them embedded by a stopped build" if report.resumed else "") + ")."
        + (" The index there was already built from this corpus, these settings and this code (its files checked): "
           "left in place." if report.unchanged else "")
    )
    if report.skipped:
        click.echo(f"Skipped {len(report.skipped)} file(s):")
        for path, reason in report.skipped.items():
            click.echo(f"  {visible(path)}: {visible(reason)}")  # one line each, whatever the file name holds


def _check_index(settings: Any) -> None:
    """Fail with one line (no index, other model, old format) before the slow model load."""
    from rsiqa.index.store import check_manifest

    check_manifest(settings.index_dir, model=settings.model)


def _fill(text: str, **options: Any) -> str:
    """``text`` wrapped for a terminal, never inside a word: a URL stays whole, so it can be copied and clicked."""
    return textwrap.fill(text, break_long_words=False, break_on_hyphens=False, **options)


def _render_citations(answer: dict[str, Any]) -> list[str]:
    lines = []
    for c in answer["citations"]:
        s = c["source"]
        where = ", ".join(x for x in (s["kind_label"], s["section"] if s["section"] not in (None, "Excerpt", "Comments") else None) if x)
        by = ", ".join(v for v in (s.get("author"), s.get("date")) if v)  # from Markdown front matter
        lines.append(f"[{c['n']}] {s['title']} ({where}){f' {by}' if by else ''} score {c['score']:.3f}")
        lines.append(f"    {s['url'] or s['path']}")
        lines += [textwrap.indent(_fill(line, width=96, subsequent_indent="  "), "    ") for line in c["text"].split("\n")]
        lines.append("")
    return lines


def _render_answer(answer: dict[str, Any], text: bool = True) -> str:
    """The answer for a terminal; ``text=False`` leaves out the answer's text (already streamed)."""
    lines = [_fill(answer["answer"], width=100), ""] if text else []
    if answer.get("notice"):
        lines += [f"Note: {answer['notice']}", ""]
    if answer.get("unsupported"):
        lines.append("Not supported by the sources (left out):")
        lines += [_fill(s, width=100, initial_indent="  - ", subsequent_indent="    ") for s in answer["unsupported"]]
        lines.append("")
    lines += _render_citations(answer)
    if answer.get("followups"):
        lines.append("You could also ask:")
        lines += [f"  - {q}" for q in answer["followups"]]
    return "\n".join(lines).rstrip()


@cli.command()
@click.argument("question")
@click.option("-k", "--top-k", type=click.IntRange(1, 20), help="How many citations [5].")
@click.option("--index", "index_dir", type=click.Path(path_type=Path), help="Index folder [index/].")
@click.option("--json", "as_json", is_flag=True, help="Print the answer object of POST /api/query.")
@click.option("--generate/--no-generate", default=None,
              help="Have the model of RSIQA_LLM_BASE_URL write the answer, streamed, every sentence checked against "
                   "its passage [on when a model is set]; --no-generate: the extractive answer.")
def ask(question: str, top_k: int | None, index_dir: Path | None, as_json: bool, generate: bool | None) -> None:
    """Answer QUESTION from the index, with numbered citations.

    With a model set (RSIQA_LLM_BASE_URL, RSIQA_LLM_MODEL) the answer is written by it and
    streamed as it comes; then sentences its passages do not support are left out and, when the
    checked text differs, it is printed again. The model gets only the question and the passages.

    \b
    Examples:
      rsiqa ask "What is KANSI?"
      rsiqa ask -k 3 --json "Would an AGI need its full codebase to self-improve?"
      RSIQA_LLM_BASE_URL=http://127.0.0.1:11434/v1 RSIQA_LLM_MODEL=llama3.2 rsiqa ask "What is KANSI?"
    """
    from rsiqa.search.engine import Engine
    from rsiqa.search.schema import Answer
    from rsiqa.serve.terminal import plain, safe_json
    from rsiqa.search.written import Writer

    if not question.strip():
        raise click.BadParameter("the question is empty", param_hint="QUESTION")
    settings = _settings(index_dir=index_dir)
    _check_index(settings)
    engine = Engine(settings)
    writer = Writer(settings, engine.embedder.encode)
    extractive = engine.ask(question, top_k)
    if as_json:
        click.echo(safe_json(writer.write(extractive, None, generate).model_dump()))
        return
    streamed: list[str] = []
    final = extractive
    for item in writer.stream(extractive, None, generate):
        if isinstance(item, Answer):
            final = item
        else:
            streamed.append(item)
            click.echo(plain(item), nl=False)  # corpus text never reaches the terminal as control sequences
    answer = final.model_dump()
    if not streamed:
        click.echo(plain(_render_answer(answer)))
        return
    click.echo("\n")
    same = final.mode == "generated" and not final.unsupported and final.answer.strip() == "".join(streamed).strip()
    if not same:
        label = "Checked answer:" if final.mode == "generated" else "Extractive answer (quoted from the passages):"
        click.echo(label)
    click.echo(plain(_render_answer(answer, text=not same)))


@cli.command("eval")
@click.argument("questions", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--url", help="Evaluate a running server (e.g. http://127.0.0.1:8000) instead of the local index.")
@click.option("--index", "index_dir", type=click.Path(path_type=Path), help="Index folder [index/].")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option("--chain", is_flag=True,
              help="Ask each follow-up after rsiqa's own answer to its history's question, as the chat page "
                   "does, instead of after the set's written answer.")
@click.option("--judgements", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A file of passages judged for the set's questions (id, chunk_id, label yes/partly/no): "
                   "also report how often the first citation was judged to answer.")
@click.option("--no-misses", is_flag=True,
              help="Print the figures without the missed questions (their count only): for a blind set, whose "
                   "questions must stay unread by whoever tunes rsiqa.")
def eval_cmd(questions: Path, url: str | None, index_dir: Path | None, as_json: bool, chain: bool,
             judgements: Path | None, no_misses: bool) -> None:
    """Measure retrieval and answers on a JSONL question set.

    Each line holds {"id", "question", "gold": [phrases], "history"?, "out_of_scope"?,
    "style"?, "answer_gold"?}. A hit is a citation whose text contains a gold phrase
    (lower-cased, white space folded); answer-hit, an answer text that contains an answer_gold
    phrase (or, without those, a gold one). On the local index, page@1 and page@5 too: a citation
    from a page that holds a gold phrase (another passage of that page counts). Prints hit@1/3/5,
    MRR@10, page@1/5, answer-hit, passage and answer lengths, how often out-of-scope questions
    were declined (and in-scope ones wrongly declined), the same per style, and the misses
    (--no-misses: only their count). With --judgements, also how often the first citation was
    judged to answer (judged@1).

    \b
    Examples:
      rsiqa eval ../shared/eval/questions.jsonl
      rsiqa eval --chain ../shared/eval/styles.jsonl   # follow-ups after rsiqa's own answers
      rsiqa eval eval/pydocs_questions.jsonl --index DIR --judgements eval/pydocs_judgements.jsonl
      rsiqa eval --no-misses eval/styles_blind6.jsonl    # a blind set: figures only
    """
    from rsiqa.evaluate import chained, evaluate, gold_pages_in, load_judgements, load_questions
    from rsiqa.serve.terminal import plain, safe_json

    rows = load_questions(questions)
    gold_pages = None
    if url:
        import httpx

        client = httpx.Client(base_url=url.rstrip("/"), timeout=60)

        def ask_fn(question: str, k: int, history: list[dict[str, str]]) -> dict[str, Any]:
            try:
                response = client.post("/api/query", json={"question": question, "top_k": k, "history": history})
            except httpx.TransportError as exc:
                raise click.ClickException(f"could not reach {url} ({exc}); is `rsiqa serve` running there?") from exc
            response.raise_for_status()
            return response.json()
    else:
        from rsiqa.search.engine import Engine

        settings = _settings(index_dir=index_dir)
        _check_index(settings)
        engine = Engine(settings)
        gold_pages = gold_pages_in((p.text, p.source.to_dict()) for p in engine.data.passages)

        def ask_fn(question: str, k: int, history: list[dict[str, str]]) -> dict[str, Any]:
            return engine.ask(question, k, history).model_dump()

    judged = load_judgements(judgements) if judgements else None
    report = evaluate(rows, chained(ask_fn) if chain else ask_fn, gold_pages, judged)
    click.echo(safe_json(report.figures()) if as_json else plain(report.render(misses=not no_misses)))


@cli.command()
@click.option("--host", help="Address to bind [127.0.0.1]; anything else exposes the server to the network.")
@click.option("--port", type=click.IntRange(1, 65535), help="Port [8000].")
@click.option("--index", "index_dir", type=click.Path(path_type=Path), help="Index folder [index/].")
def serve(host: str | None, port: int | None, index_dir: Path | None) -> None:
    """Serve the chat page at / and the REST API at /api (docs at /docs), in one process.

    A rebuilt index (`rsiqa build` into the same folder) is served within a second, without a
    restart. Set RSIQA_RELOAD_TOKEN to also allow POST /api/reload.

    \b
    Example:
      rsiqa serve --port 8000 --index index/
    """
    from rsiqa.serve.threads import limit_numeric_threads

    limit_numeric_threads(1)  # before NumPy/FAISS load: one thread per request, requests side by side
    from rsiqa.serve.api import create_app
    from rsiqa.search.engine import Engine
    from rsiqa.serve.server import bind, run

    settings = _settings(host=host, port=port, index_dir=index_dir)
    sock = bind(settings.host, settings.port)  # a port in use: one line, before anything is loaded
    _check_index(settings)
    # The large files' checksums are verified in the background; the first answer waits for them.
    engine = Engine(settings, defer_checksums=True)
    app = create_app(settings, engine, chat_page="background")  # the API answers while Gradio loads
    if settings.host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"Warning: listening on {settings.host}, reachable from other machines; put a reverse proxy "
                   "with TLS and authentication in front (see docs/serving.md).", err=True)
    shown_host = f"[{settings.host}]" if ":" in settings.host else settings.host
    click.echo(f"rsiqa: serving on http://{shown_host}:{settings.port}/ (REST API docs at /docs); Ctrl+C stops.")
    run(app, sock, settings)


@cli.group()
def feedback() -> None:
    """Readers' votes on answers (the chat page's thumbs, POST /api/feedback)."""


@feedback.command("export")
@click.option("--db", "feedback_path", type=click.Path(path_type=Path, dir_okay=False),
              help="The feedback file [RSIQA_FEEDBACK_PATH, data/feedback.sqlite3].")
def feedback_export(feedback_path: Path | None) -> None:
    """Print every vote as one JSON object a line, oldest first.

    Each holds id, created_at, rating (up/down), comment, question, answer, citations (the
    cited chunk ids) and index_build (built_at of the index that answered).

    \b
    Example:
      rsiqa feedback export > feedback.jsonl
    """
    from rsiqa.serve.feedback import FeedbackStore

    settings = _settings(feedback_path=feedback_path)
    if not settings.feedback_path.is_file():  # not created by an export: a mistyped path would look like no votes
        raise click.ClickException(f"no feedback file at {settings.feedback_path}: no vote has been stored there "
                                   "(the chat page's thumbs and POST /api/feedback write it; --db names another)")
    for line in FeedbackStore(settings.feedback_path).export_jsonl():
        click.echo(line)


def main() -> None:
    """Console entry point."""
    cli(prog_name="rsiqa")


if __name__ == "__main__":
    sys.exit(main())
