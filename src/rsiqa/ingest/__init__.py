"""Ingest: corpus files in, passages out.

Owns reading files by type (:mod:`loaders`), the structure of the text (:mod:`structure`: notes,
comments, linked posts, headings, footnotes), passages of whole sentences (:mod:`chunking`), the
records that flow through the pipeline (:mod:`documents`) and the links taken from the corpus
(:mod:`urls`).
"""
