"""Serve: the answer to people and programs.

Owns the `rsiqa` command line (:mod:`cli`), the REST API and chat page app (:mod:`api`, with the
chat page itself in :mod:`rsiqa.ui`), the hot-reloadable engine service (:mod:`serving`), uvicorn
and its limits (:mod:`server`, :mod:`connections`, :mod:`middleware`), the local API docs
(:mod:`apidocs`), readers' feedback (:mod:`feedback`) and terminal-safe output (:mod:`terminal`).
"""
