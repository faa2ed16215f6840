"""A Milvus to test against: ``milvus-lite server`` on a free local port in a temporary folder, or a real
Milvus (standalone or cluster) when ``RSIQA_MILVUS_URI`` is set (with ``RSIQA_MILVUS_TOKEN`` if it needs one).

Import the fixtures into a test module: ``from milvus_server import milvus, milvus_settings  # noqa: F401``.
Each test gets its own collection prefix, and its collections are dropped afterwards.
"""

from __future__ import annotations

import os
import shutil
import uuid

import pytest
from processes import start_milvus_lite, stop_process, wait_for_milvus


@pytest.fixture(scope="session")
def milvus(tmp_path_factory: pytest.TempPathFactory):
    """(uri, token) of a running Milvus: the one of RSIQA_MILVUS_URI, else a `milvus-lite server` started here."""
    uri = os.environ.get("RSIQA_MILVUS_URI")
    token = os.environ.get("RSIQA_MILVUS_TOKEN")
    if uri:
        wait_for_milvus(uri, token, timeout=10)
        yield uri, token
        return
    data = tmp_path_factory.mktemp("milvus-data")
    log = (data.parent / "milvus-lite.log").open("wb")
    process, uri = start_milvus_lite(data, log)
    try:
        yield uri, None
    finally:
        if process.poll() is None:
            stop_process(process, timeout=10)
        log.close()
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def milvus_settings(milvus, settings):
    """The test's ``settings`` (tmp corpus and index) with RSIQA_STORE=milvus, a fresh prefix; collections dropped after."""
    from pymilvus import MilvusClient

    uri, token = milvus
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    configured = settings.model_copy(update={"store": "milvus", "milvus_uri": uri, "milvus_token": token,
                                             "milvus_collection_prefix": prefix})
    yield configured
    client = MilvusClient(uri=uri, token=token or "")
    try:
        aliases = client.list_aliases().get("aliases", [])
    except Exception:  # noqa: BLE001 - an engine without aliases (Milvus Lite 2.5)
        aliases = []
    for alias in aliases:
        if alias.startswith(prefix):
            client.drop_alias(alias=alias)
    for name in client.list_collections():
        if name.startswith(prefix):
            client.drop_collection(name)
    client.close()


#: A small corpus of four topics, two paragraphs each, for the store's tests.
TOPICS = {
    "kansi.md": ["KANSI names pivotal AI that does not engage in extensive self-modification at all.",
                 "Such a system is known, algorithmic, non-self-improving and intelligent by design."],
    "go.md": ["Go play went from amateur to superhuman in two years after the architecture was simplified.",
              "AlphaGo Zero learned from self-play alone, without human games, and beat its predecessor."],
    "chiang.md": ["Ted Chiang argues that AIs are like compilers: bootstrapping helps, but only up to a point.",
                  "A compiler that compiles itself does not become smarter, only faster at the same job."],
    "chollet.md": ["Francois Chollet argued in 2017 that recursively self-improving systems cannot go exponential.",
                   "He points to bottlenecks in the environment, which grow as fast as the improving system."],
}


def write_topics(corpus, files=TOPICS):
    """Write ``files`` (name -> paragraphs) into ``corpus``."""
    for name, paragraphs in files.items():
        (corpus / name).write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")


@pytest.fixture
def small(milvus_settings):
    """``milvus_settings`` with passages of 5-20 words (several per topic file)."""
    return milvus_settings.model_copy(update={"chunk_min_words": 5, "chunk_max_words": 20, "chunk_hard_max_words": 40})


def milvus_client(settings):
    """A client of the Milvus the settings name."""
    from pymilvus import MilvusClient

    return MilvusClient(uri=settings.milvus_uri, token=settings.milvus_token or "")
