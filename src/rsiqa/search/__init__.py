"""Search: a question in, a cited answer out.

Owns reading the question (:mod:`query`, with the corpus's acronyms spelt out: :mod:`acronyms`) and
the conversation (:mod:`conversation`), the words as BM25 sees them (:mod:`lexical`) and their
expansion (:mod:`expansion`), hybrid ranking
(:mod:`retrieval`), the composed extractive answer (:mod:`answer`), follow-up suggestions
(:mod:`followups`), optional written answers from a model, checked sentence by sentence
(:mod:`generation`, :mod:`support`, :mod:`written`), the answer object (:mod:`schema`) and the
engine that ties them to a loaded index (:mod:`engine`).
"""
