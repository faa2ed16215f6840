"""Turn an extractive answer into a written one: ask the model, check every sentence, fall back when needed.

The order is fixed: the engine retrieves and decides whether to decline first, and composes its
extractive answer (:meth:`rsiqa.search.engine.Engine.ask`). A declined answer is returned as it is, so a
declined question never reaches the model. Otherwise the model writes from the top passages
(:mod:`rsiqa.search.generation`), the text is checked (:mod:`rsiqa.search.support`), and the answer object
becomes ``mode="generated"`` with its citations numbered as the text uses them, or stays
extractive with a ``notice`` saying why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from rsiqa.search.generation import GenerationError, LLMClient, LLMConfig, build_messages
from rsiqa.search.schema import Answer, Citation
from rsiqa.settings import Settings
from rsiqa.search.support import CheckedAnswer, check_answer

log = logging.getLogger(__name__)

#: Below this share of the written words kept (or with no sentence kept), the extractive answer is served.
MIN_SUPPORTED_SHARE = 0.5

NO_MODEL_NOTICE = "no model is configured (set RSIQA_LLM_BASE_URL); showing passages instead"


class Writer:
    """Writes answers with the model of ``settings`` (none without ``llm_base_url``) and checks them with ``encode``."""

    def __init__(self, settings: Settings, encode: Callable[[list[str]], np.ndarray],
                 client: LLMClient | None = None) -> None:
        self.settings = settings
        self.encode = encode
        config = LLMConfig.from_settings(settings)
        self.client = client or (LLMClient(config) if config else None)

    @property
    def enabled(self) -> bool:
        """Whether a model is configured (then questions are written by default)."""
        return self.client is not None

    def stream(self, answer: Answer, history: list[dict[str, Any]] | None = None,
               generate: bool | None = None, stream: bool = True) -> Iterator[str | Answer]:
        """Yield the model's text as it comes, then the final, checked :class:`Answer` (always last).

        ``stream=False`` asks the server for the whole reply at once (one text item, then the answer).

        ``generate`` None means "when a model is configured". Without generation, or for a declined
        question, only ``answer`` is yielded. A model failure yields ``answer`` with a notice.
        """
        if generate is None:
            generate = self.enabled
        if not generate or answer.abstained or not answer.citations:
            yield answer
            return
        if self.client is None:
            yield answer.model_copy(update={"notice": NO_MODEL_NOTICE})
            return
        given = answer.citations[: self.settings.llm_passages]
        messages = build_messages(answer.question, given, history)
        parts: list[str] = []
        try:
            for delta in self.client.stream(messages, stream=stream):
                parts.append(delta)
                yield delta
        except GenerationError as exc:
            log.warning("written answer not served: %s", exc)
            yield answer.model_copy(update={"notice": str(exc)})
            return
        yield self.checked(answer, "".join(parts))

    def write(self, answer: Answer, history: list[dict[str, Any]] | None = None,
              generate: bool | None = None) -> Answer:
        """The final answer of :meth:`stream`, the reply asked for whole (not streamed)."""
        final = answer
        for item in self.stream(answer, history, generate, stream=False):
            if isinstance(item, Answer):
                final = item
        return final

    def checked(self, answer: Answer, text: str) -> Answer:
        """The answer object for the model's ``text``: checked and renumbered, or ``answer`` with a notice."""
        given = answer.citations[: self.settings.llm_passages]
        check = check_answer(text, {c.n: c.text for c in given}, self.encode, self.settings.support_threshold)
        if not check.order or check.supported_words < MIN_SUPPORTED_SHARE * max(check.written_words, 1):
            left_out = len(check.unsupported)
            return answer.model_copy(update={
                "unsupported": check.unsupported,
                "notice": (f"the passages do not support enough of the model's answer ({left_out} sentence"
                           f"{'' if left_out == 1 else 's'} left out); showing passages instead"),
            })
        return answer.model_copy(update={
            "answer": check.text, "mode": "generated", "citations": renumbered(answer.citations, check),
            "unsupported": check.unsupported, "notice": None,
        })


def renumbered(citations: list[Citation], check: CheckedAnswer) -> list[Citation]:
    """The citations numbered as the written text uses them (``check.order``), the uncited ones after."""
    by_n = {c.n: c for c in citations}
    ordered = [by_n[n] for n in check.order] + [c for c in citations if c.n not in check.order]
    return [c.model_copy(update={"n": i}) for i, c in enumerate(ordered, start=1)]
