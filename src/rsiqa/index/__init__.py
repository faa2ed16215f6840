"""Index: passages in, a searchable index on disk out.

Owns the embedding model (:mod:`embedding`, exported once to ONNX by :mod:`onnx_export`), the build
pipeline (:mod:`build`), the index folder and its manifest (:mod:`store`), where a build may write
(:mod:`target`) and whether an index folder is what its build wrote (:mod:`integrity`).
"""
