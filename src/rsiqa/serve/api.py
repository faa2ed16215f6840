"""The REST API (under ``/api``) and the chat page (at ``/``) as one FastAPI app.

A thin layer over :class:`rsiqa.serve.serving.EngineService`: validation, response shapes and
errors live here, retrieval and answers in the engine.
"""

# No `from __future__ import annotations`: FastAPI must see the real type of the locally built QueryIn.
import hmac
import json
import logging
import math
from collections.abc import Callable, Iterator
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rsiqa import __version__
from rsiqa.serve.apidocs import install_docs
from rsiqa.ingest.documents import KIND_LABELS
from rsiqa.search.engine import Engine
from rsiqa.index.store import IndexError_
from rsiqa.serve.middleware import NoUploads, ServerErrors
from rsiqa.search.schema import Answer, Turn, check_question
from rsiqa.serve.serving import EngineService
from rsiqa.settings import Settings
from rsiqa.ui.startup import BackgroundChatPage
from rsiqa.ingest.urls import SafeUrl

log = logging.getLogger(__name__)

MAX_TOP_K = 20
#: Largest request body accepted under /api (413 above): more than a query with a full history of
#: ordinary turns needs (20 turns of 20,000 plain characters are 400 kB).
MAX_BODY_BYTES = 1024 * 1024
MAX_PAGE_BODY_BYTES = 8 * 1024 * 1024  # the chat page sends the conversation it shows
#: Longest piece of a client's input echoed back in a 422 (the rest is cut), and its deepest nesting.
MAX_ECHO_CHARS = 200
MAX_ECHO_DEPTH = 4


class HealthOut(BaseModel):
    """The state of the served index."""

    status: str = Field(description="ok, or degraded when the chat page failed to start (then the status code is 503)")
    chat_page: str = Field("off", description="The chat page at /: ok, starting, failed or off")
    passages: int = Field(description="Passages in the index")
    documents: int = Field(description="Corpus files in the index")
    model: str = Field(description="Embedding model the index was built with")
    built_at: str | None = Field(description="When the index was built (ISO 8601, UTC)")
    version: str = Field(description="rsiqa version")


class SourceDocOut(BaseModel):
    """One source of the index: a corpus document, or a post linked (and excerpted) from it."""

    title: str
    url: SafeUrl = Field(None, description="The source's http(s) URL; null when it has none (or only another scheme)")
    path: str = Field(description="The corpus file, relative to the corpus folder")
    kinds: list[str] = Field(description="Kinds of passage taken from this source")
    kind_labels: list[str] = Field(description="The kinds, in words")
    passages: int = Field(description="Passages taken from this source")


class SourcesOut(BaseModel):
    """Every source of the served index."""

    count: int
    sources: list[SourceDocOut]


class ReloadOut(BaseModel):
    """The index served after a reload."""

    reloaded: bool
    passages: int
    built_at: str | None


class ErrorOut(BaseModel):
    """An error with a message for people."""

    detail: str


class FeedbackIn(BaseModel):
    """A reader's vote on one answer: thumbs up or down, an optional comment, and what was rated."""

    model_config = ConfigDict(extra="forbid")

    rating: Literal["up", "down"]
    comment: str = Field("", max_length=2000, description="Optional words on what was good or wrong")
    question: str = Field(min_length=1, max_length=20_000)
    answer: str = Field(min_length=1, max_length=20_000, description="The answer text rated, with its [n] markers")
    citations: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list, max_length=20, description="The chunk_id of each passage the answer cited, in order")

    @field_validator("comment", "question", "answer")
    @classmethod
    def _encodable(cls, value: str) -> str:
        value.encode("utf-8")  # a lone surrogate ("\\ud800" in JSON) cannot be stored: 422, not 500
        return value

    @field_validator("citations")
    @classmethod
    def _encodable_ids(cls, value: list[str]) -> list[str]:
        "".join(value).encode("utf-8")
        return value


class FeedbackOut(BaseModel):
    """The stored vote."""

    id: int = Field(description="The vote's number in the feedback file")
    index_build: str | None = Field(description="built_at of the index that served the vote")


def query_model(settings: Settings) -> type[BaseModel]:
    """The body of ``POST /api/query``, with the limits of ``settings``."""

    class QueryIn(BaseModel):
        """A question, how many citations to return, and the conversation so far (oldest first)."""

        model_config = ConfigDict(extra="forbid")  # a misspelt field ("topk") is an error, not silently ignored

        question: str = Field(min_length=1, max_length=settings.max_question_chars,
                              examples=["Would an AGI need its full codebase to self-improve?"])
        top_k: StrictInt = Field(settings.top_k, ge=1, le=MAX_TOP_K,
                                 description="How many citations to return (an integer: not \"5\", not true)")
        history: list[Turn] = Field(default_factory=list, max_length=settings.max_history_turns,
                                    description="Earlier messages, oldest first; used to understand follow-ups")
        generate: bool = Field(
            bool(settings.llm_base_url),
            description="Have the server's model write the answer from the passages, each sentence checked against "
                        "the passage it cites; false: the extractive answer. The default is true when the server "
                        "has a model (RSIQA_LLM_BASE_URL), false otherwise")

        @field_validator("question")
        @classmethod
        def _not_blank(cls, value: str) -> str:
            return check_question(value)

    return QueryIn


def sse_events(items: Iterator[str | Answer]) -> Iterator[str]:
    """Server-Sent Events for :meth:`EngineService.ask_stream`: ``delta`` events, then one ``answer`` (or ``error``)."""
    try:
        for item in items:
            if isinstance(item, Answer):
                yield f"event: answer\ndata: {item.model_dump_json()}\n\n"
            else:
                yield f"event: delta\ndata: {json.dumps({'text': item}, ensure_ascii=False)}\n\n"
    except Exception as exc:  # the status line is sent: say so in the stream
        log.error("error while streaming an answer", exc_info=exc)
        yield f"event: error\ndata: {json.dumps({'detail': 'internal error: the answer could not be completed'})}\n\n"


def answer_response(answer: Answer) -> Response:
    """``answer`` as JSON, serialized once here.

    Returned as a ready response, FastAPI does not validate it against ``response_model`` again (the
    model is still what the docs show): that check would run in a second worker-thread hop of about
    0.2 ms on a sync route, for an object the engine built from the same model.
    """
    return Response(answer.model_dump_json(), media_type="application/json")


def health_of(engine: Engine, chat_page: str = "off") -> HealthOut:
    """Health figures of the index ``engine`` serves, and the state of the chat page."""
    data = engine.data  # once: a reload may swap it between two reads
    manifest = data.manifest
    return HealthOut(status="degraded" if chat_page == "failed" else "ok", chat_page=chat_page,
                     passages=len(data.passages), documents=len(manifest.get("documents", {})),
                     model=str(manifest.get("model", "")), built_at=manifest.get("built_at"), version=__version__)


def sources_of(engine: Engine) -> SourcesOut:
    """The distinct sources of the served passages: one per (corpus file, URL), in corpus order."""
    data = engine.verified().data  # once: a reload may swap it between two reads
    titles = {path: doc.get("title") for path, doc in data.manifest.get("documents", {}).items()}
    found: dict[tuple[str, str | None], dict[str, Any]] = {}
    sources, per_row = data.distinct_sources()  # in corpus order; counted per row without reading the passages
    counts = np.bincount(np.asarray(per_row, dtype=np.int64), minlength=len(sources))
    for source, count in zip(sources, counts.tolist()):
        key = (source.path, source.url)
        entry = found.setdefault(key, {
            "title": source.title if source.url else titles.get(source.path) or source.title,
            "url": source.url, "path": source.path, "kinds": [], "passages": 0,
        })
        entry["passages"] += count
        if source.kind not in entry["kinds"]:
            entry["kinds"].append(source.kind)
    docs = [SourceDocOut(**e, kind_labels=[KIND_LABELS.get(k, k) for k in e["kinds"]]) for e in found.values()]
    return SourcesOut(count=len(docs), sources=docs)


def index_build(service: EngineService) -> str | None:
    """``built_at`` of the served index, or None when none can be loaded (a vote is still kept)."""
    try:
        return service.current().data.manifest.get("built_at")
    except IndexError_:
        return None


def api_router(service: EngineService, chat_page: Callable[[], str] = lambda: "off") -> APIRouter:
    """The ``/api`` routes; ``chat_page`` tells the state of the chat page, for the health check."""
    settings = service.settings
    router = APIRouter(prefix="/api", tags=["api"])  # body size: ApiBodyLimit
    bearer = HTTPBearer(auto_error=False, description="The server's RSIQA_RELOAD_TOKEN")
    QueryIn = query_model(settings)
    unavailable = {503: {"model": ErrorOut, "description": "No usable index (run `rsiqa build`)"}}

    @router.post("/query", response_model=Answer, responses={
        400: {"model": ErrorOut, "description": "The body cannot be parsed (not UTF-8, or nested too deeply)"},
        413: {"model": ErrorOut, "description": f"Body over {MAX_BODY_BYTES // 2**20} MB"},
        **unavailable,
    })
    def query(body: QueryIn) -> Response:  # type: ignore[valid-type]
        """Answer a question from the corpus, each claim followed by [n] citing a returned passage.

        When the material does not cover the question, `abstained` is true, `answer` says so and
        `citations` is empty. Pass earlier turns in `history` to ask follow-ups ("and why?").
        """
        history = [turn.model_dump() for turn in body.history]
        return answer_response(service.ask(body.question, history, body.top_k, body.generate))

    @router.post("/query/stream", response_class=StreamingResponse, responses={
        200: {"content": {"text/event-stream": {}},
              "description": "Server-Sent Events: `delta` events ({\"text\": ...}) as the model writes, then one "
                             "`answer` event holding the checked answer object (as POST /api/query returns it)"},
        400: {"model": ErrorOut, "description": "The body cannot be parsed (not UTF-8, or nested too deeply)"},
        413: {"model": ErrorOut, "description": f"Body over {MAX_BODY_BYTES // 2**20} MB"},
        **unavailable,
    })
    def query_stream(body: QueryIn) -> StreamingResponse:  # type: ignore[valid-type]
        """The same answer as `POST /api/query`, streamed as Server-Sent Events.

        `event: delta` events carry the model's text as it comes (`{"text": "..."}`); the last event,
        `event: answer`, carries the checked answer object. Its `answer` may differ from the streamed
        text: unsupported sentences are left out (listed in `unsupported`), and when the model fails
        or too little is supported it is the extractive answer with a `notice`. Without a model, or
        for a declined question, only the `answer` event is sent.
        """
        history = [turn.model_dump() for turn in body.history]
        items = service.ask_stream(body.question, history, body.top_k, body.generate)  # a missing index: 503 here
        return StreamingResponse(sse_events(items), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @router.post("/feedback", response_model=FeedbackOut, status_code=201, responses={
        400: {"model": ErrorOut, "description": "The body cannot be parsed (not UTF-8, or nested too deeply)"},
        413: {"model": ErrorOut, "description": f"Body over {MAX_BODY_BYTES // 2**20} MB"},
    })
    def feedback(body: FeedbackIn) -> FeedbackOut:
        """Store a thumbs up or down on an answer, with an optional comment, for the maintainers.

        Kept in a local SQLite file (`RSIQA_FEEDBACK_PATH`) with the question, the answer, the cited
        chunk ids and the index build; `rsiqa feedback export` prints the votes as JSON lines.
        """
        build = index_build(service)
        stored = service.feedback.record(body.rating, body.question, body.answer, body.citations, build, body.comment)
        return FeedbackOut(id=stored, index_build=build)

    @router.get("/health", response_model=HealthOut, responses={
        503: {"model": HealthOut, "description": "No usable index, or the chat page failed to start (status degraded)"},
    })
    def health() -> Any:
        """Whether the server answers, which index it serves, and whether the chat page is up (503 when it failed)."""
        out = health_of(service.current(), chat_page())
        return JSONResponse(out.model_dump(), status_code=503) if out.status != "ok" else out

    router.add_api_route("/health", health, methods=["HEAD"], include_in_schema=False)  # monitors often send HEAD

    @router.get("/sources", response_model=SourcesOut, responses=unavailable)
    def sources() -> SourcesOut:
        """The documents and linked posts the answers are drawn from, with titles, kinds and URLs."""
        return sources_of(service.current())

    @router.post("/reload", response_model=ReloadOut, responses={
        401: {"model": ErrorOut, "description": "No bearer token given"},
        403: {"model": ErrorOut, "description": "Wrong token, or reload disabled (no RSIQA_RELOAD_TOKEN set)"},
        **unavailable,
    })
    def reload(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> ReloadOut:
        """Load the index from disk again now (a rebuilt index is also picked up within a second by itself).

        Requires `Authorization: Bearer <RSIQA_RELOAD_TOKEN>`.
        """
        token = settings.reload_token
        if not token:
            raise HTTPException(403, "reload is disabled: start the server with RSIQA_RELOAD_TOKEN set to enable it")
        if credentials is None:
            raise HTTPException(401, "missing token: send 'Authorization: Bearer <token>'",
                                headers={"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(credentials.credentials.encode(), token.encode()):
            raise HTTPException(403, "wrong reload token")
        try:
            engine = service.reload()
        except IndexError_ as exc:
            raise HTTPException(503, f"the index could not be loaded, still serving the previous one: {exc}") from exc
        data = engine.data
        return ReloadOut(reloaded=True, passages=len(data.passages), built_at=data.manifest.get("built_at"))

    @router.api_route("/{rest:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    def elsewhere(rest: str) -> None:
        """Any other request under /api: a 405 naming the methods its path takes (``GET /api/query``), else a 404.
        Without it the chat page, mounted at /, would answer them with its own 404."""
        path = f"{router.prefix}/{rest}"
        allowed = sorted({method for route in router.routes if getattr(route, "path", None) == path
                          for method in getattr(route, "methods", ())})
        if allowed:
            raise HTTPException(405, f"{path} takes {' or '.join(allowed)}", headers={"Allow": ", ".join(allowed)})
        raise HTTPException(404, f"no such endpoint: {path} (see /docs)")

    return router


class ApiBodyLimit:
    """Refuse request bodies over ``limit`` bytes under ``/api`` (``page_limit`` elsewhere) with a JSON 413.

    The chat page's own requests carry the conversation shown so far, hence their larger cap;
    nothing on the server accepts uploads. A declared ``Content-Length`` over the limit is
    refused before the body is read; a chunked body is counted as it arrives (FastAPI turns the
    HTTPException raised then into the 413).
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES, page_limit: int = MAX_PAGE_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit
        self.page_limit = page_limit

    @staticmethod
    def _detail(limit: int) -> str:
        return f"request body too large: the limit is {limit / 2**20:g} MB; send a shorter question or fewer history turns"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit if scope["path"].startswith("/api/") else self.page_limit
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await JSONResponse({"detail": self._detail(limit)}, status_code=413, headers={"Connection": "close"})(
                scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, self._detail(limit))
            return message

        await self.app(scope, counted, send)


def _printable(value: Any, depth: int = 0) -> Any:
    """A client's input made safe to echo in JSON: no NaN/infinity, no lone surrogates, long text cut, and
    nesting cut at ``MAX_ECHO_DEPTH`` (JSON nested hundreds deep must not exhaust the stack)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        cut = value if len(value) <= MAX_ECHO_CHARS else value[:MAX_ECHO_CHARS] + "..."
        return cut.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict | list | tuple) and depth >= MAX_ECHO_DEPTH:
        return "..."
    if isinstance(value, dict):
        return {_printable(str(k)): _printable(v, depth + 1) for k, v in list(value.items())[:50]}
    if isinstance(value, list | tuple):
        return [_printable(v, depth + 1) for v in value[:50]]
    return value if value is None or isinstance(value, bool | int | float) else _printable(str(value))


def _clearer(error: dict[str, Any], content_type: str) -> dict[str, Any]:
    """One validation error, safe to send: the echoed input made printable, and pydantic's message for
    a problem with the body as a whole said in terms of this API."""
    for key in ("input", "ctx"):
        if key in error:
            error[key] = _printable(error[key])
    if tuple(error.get("loc", ())) == ("body",) and error.get("type") in ("missing", "model_attributes_type"):
        if "json" not in content_type:
            error["msg"] = (f"the body must be a JSON object sent with 'Content-Type: application/json' "
                            f"(got {content_type or 'no Content-Type'!r})")
        else:
            error["msg"] = 'the body must be a JSON object such as {"question": "What is KANSI?"}'
    elif error.get("type") == "json_invalid":
        loc = error.get("loc", ())
        where = f" at character {loc[1]}" if len(loc) > 1 else ""
        error["msg"] = f"invalid JSON{where}: {(error.get('ctx') or {}).get('error', 'cannot be parsed')}"
    return error


def _install_error_handlers(app: FastAPI) -> None:
    """JSON errors without tracebacks: 422 for invalid input, 503 for a missing/broken index, 500 for anything unexpected."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        errors = [_clearer(error, content_type) for error in jsonable_encoder(_printable(list(exc.errors()[:50])))]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Any:
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":  # FastAPI's words
            exc = StarletteHTTPException(400, "the body could not be parsed: send a JSON object encoded as UTF-8")
        return await http_exception_handler(request, exc)

    @app.exception_handler(IndexError_)
    async def _no_index(request: Request, exc: IndexError_) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)
    # Anything unexpected: rsiqa.serve.middleware.ServerErrors (a 500 with Connection: close).


class PageAsk:
    """What the chat page calls: ``ask(question, history)``, and ``stream(question, history, generate)``
    (text deltas, then the checked answer) when a model is set (``generates``)."""

    def __init__(self, service: EngineService) -> None:
        self.service = service
        self.generates = bool(service.settings.llm_base_url)

    def __call__(self, question: str, history: list[dict[str, Any]]) -> Answer:
        return self.service.ask(question, history)

    def stream(self, question: str, history: list[dict[str, Any]], generate: bool) -> Iterator[str | Answer]:
        # Without a model the page has no "Passages only" box and asks for passages: no notice that no model is set.
        return self.service.ask_stream(question, history, None, generate and self.generates)

    def material_questions(self) -> list[str]:
        """Full questions the served material asks (the page's default examples)."""
        return self.service.current().questions

    def feedback(self, rating: Literal["up", "down"], question: str, answer: str, citations: list[str]) -> int:
        """Store the page's vote on an answer (as ``POST /api/feedback`` does); returns its id."""
        return self.service.feedback.record(rating, question, answer, citations, index_build(self.service))

    def comment(self, feedback_id: int, comment: str) -> bool:
        """Add the reader's comment to vote ``feedback_id``."""
        return self.service.feedback.comment(feedback_id, comment[:2000])


def create_app(settings: Settings, engine: Engine | None = None,
               chat_page: bool | Literal["background"] = True) -> FastAPI:
    """The app: REST API under ``/api``, OpenAPI docs at ``/docs``, the chat page at ``/``.

    ``engine`` is built from ``settings`` on first use when not given. ``chat_page``: True mounts
    the chat page now; ``"background"`` (what ``rsiqa serve`` uses) once the server runs, so that
    the API answers without waiting for Gradio to load (see :class:`BackgroundChatPage`, kept in
    ``app.state.chat_page``); False serves no page.
    """
    service = EngineService(settings, engine)
    ask = PageAsk(service)

    app = FastAPI(
        title="rsiqa",
        version=__version__,
        summary="Cited answers about the debate on recursive AI self-improvement",
        docs_url=None,  # install_docs: Swagger UI from the installed package, not a CDN
        redoc_url=None,
    )
    install_docs(app)
    app.state.service = service
    app.add_middleware(ApiBodyLimit, limit=MAX_BODY_BYTES)
    app.add_middleware(NoUploads)
    # Our own CORS policy, closed unless RSIQA_CORS_ORIGINS names origins; Gradio then adds none of its own
    # (which lets any localhost:* page call /api with credentials).
    app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "HEAD", "POST"],
                       allow_headers=["Authorization", "Content-Type"], allow_credentials=False)
    app.add_middleware(ServerErrors)  # added last: the outermost, so it also sees errors of the others
    _install_error_handlers(app)
    def chat_state() -> str:
        page = getattr(app.state, "chat_page", None)
        return page.state if page is not None else ("ok" if chat_page else "off")

    app.include_router(api_router(service, chat_state))
    if chat_page == "background":
        app.state.chat_page = BackgroundChatPage(app, ask, settings)  # registered last: after /api and /docs
    elif chat_page:
        from rsiqa.ui.chat import mount_chat

        mount_chat(app, ask, settings)
    return app
