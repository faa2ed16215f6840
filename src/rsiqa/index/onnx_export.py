"""Export a sentence-transformers model to ONNX once, so queries and builds run without torch.

The exported graph takes ``input_ids``, ``attention_mask`` (and ``token_type_ids`` for BERT-like
models) and returns ``sentence_embedding``: the transformer, the model's pooling (mean or CLS)
and L2 normalisation in one graph, so the runtime side is tokenizer -> ONNX Runtime -> done.

This module imports torch and transformers and is meant to run in a child process
(``python -m rsiqa.index.onnx_export MODEL_DIR OUT_DIR [--int8]``): the serving process then never
loads torch, which keeps its memory and start time small. ``int8`` additionally writes a
dynamically quantised copy (see :data:`INT8_SCHEME`).

``export.json`` records the size and SHA-256 of every model file written, so that a damaged
cached model (a truncated copy, a full disk) is noticed and exported again
(:func:`verify_model_file`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: Bump when the exported graph changes, so cached exports are redone.
#: 2: int8 weights in 7 bits (INT8_SCHEME); sizes and hashes of the files in export.json.
EXPORT_VERSION = 2
FP32_FILE = "model.onnx"
INT8_FILE = "model-int8.onnx"
META_FILE = "export.json"

#: The int8 quantisation, recorded in each index built with it. ONNX Runtime's dynamic
#: quantisation multiplies uint8 activations (0..255) by int8 weights. With VNNI the products
#: are summed in int32, exactly. Without it (AVX2 only, e.g. AMD EPYC) the kernel adds pairs of
#: products in int16 first (``vpmaddubsw``), which saturates above 32,767: with 8-bit weights
#: (|w| <= 127) a pair reaches 2 * 255 * 127 = 64,770, and vectors differed by up to 0.035 from
#: the VNNI ones, enough to reorder rankings. Weights quantised per output channel into 7 bits
#: (``reduce_range``: |w| <= 64) keep every pair within 2 * 255 * 64 = 32,640, so both kernels
#: compute the same integers (measured on an emulated AVX2-only CPU: 19 of 20 texts within 3e-8
#: of the VNNI vectors, the last within 0.006). Only MatMuls with constant weights are quantised.
INT8_SCHEME = "int8-w7"
INT8_WEIGHT_LIMIT = 64

#: sentence-transformers modules the ONNX graph reproduces; anything else (Dense, ...) is unsupported.
_SUPPORTED_MODULES = {"Transformer", "Pooling", "Normalize"}


class UnsupportedModel(RuntimeError):
    """The model has a pipeline this exporter does not reproduce (use the torch backend)."""


def read_pipeline(model_dir: Path) -> dict[str, Any]:
    """Pooling mode and maximum sequence length of a sentence-transformers folder (no torch needed)."""
    pooling = "mean"
    modules_file = model_dir / "modules.json"
    if modules_file.is_file():
        modules = json.loads(modules_file.read_text(encoding="utf-8"))
        kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
        unsupported = [k for k in kinds if k not in _SUPPORTED_MODULES]
        if unsupported:
            raise UnsupportedModel(f"modules {unsupported} are not supported by the ONNX export")
        for module in modules:
            if module.get("type", "").endswith("Pooling"):
                config = json.loads((model_dir / module.get("path", "") / "config.json").read_text(encoding="utf-8"))
                modes = [k for k, v in config.items() if k.startswith("pooling_mode_") and v]
                if modes == ["pooling_mode_mean_tokens"]:
                    pooling = "mean"
                elif modes == ["pooling_mode_cls_token"]:
                    pooling = "cls"
                else:
                    raise UnsupportedModel(f"pooling {modes} is not supported by the ONNX export")
    max_len = None
    sbert = model_dir / "sentence_bert_config.json"
    if sbert.is_file():
        max_len = json.loads(sbert.read_text(encoding="utf-8")).get("max_seq_length")
    limits = [max_len]
    for name, key in (("tokenizer_config.json", "model_max_length"), ("config.json", "max_position_embeddings")):
        path = model_dir / name
        if path.is_file():
            limits.append(json.loads(path.read_text(encoding="utf-8")).get(key))
    limits = [int(x) for x in limits if isinstance(x, (int, float)) and 0 < x < 1_000_000]
    if not (model_dir / "tokenizer.json").is_file():
        raise UnsupportedModel(f"'{model_dir}' has no tokenizer.json (a fast tokenizer is needed)")
    return {"pooling": pooling, "max_seq_length": min(limits) if limits else 512}


def model_fingerprint(model_dir: Path) -> str:
    """A cheap identity of a model folder: names, sizes and modification times of its files."""
    import hashlib

    digest = hashlib.sha1(f"export-v{EXPORT_VERSION}".encode())
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.relative_to(model_dir).as_posix()}\x1f{stat.st_size}\x1f{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def file_record(path: Path) -> dict[str, Any]:
    """Size and SHA-256 of a model file, as ``export.json`` records them."""
    from rsiqa.index.integrity import file_digest

    return file_digest(path)


def verify_model_file(folder: Path, name: str) -> str | None:
    """Why the cached ``folder/name`` cannot be used (missing, damaged, from an older export), or None.

    The size is compared first (a truncated copy is caught without reading it), then the hash.
    """
    path, meta_path = folder / name, folder / META_FILE
    if not path.is_file() or not meta_path.is_file():
        return "not exported yet"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        expected = meta["files"][name]
    except (OSError, ValueError, KeyError, TypeError):
        return f"{META_FILE} is unreadable or from an older export"
    if meta.get("export_version") != EXPORT_VERSION:
        return "exported by an older version"
    try:
        if path.stat().st_size != expected.get("bytes"):
            return f"{name} has {path.stat().st_size} bytes, {expected.get('bytes')} were written"
        if file_record(path)["sha256"] != expected.get("sha256"):
            return f"{name} does not match the hash written at export"
    except OSError as exc:
        return f"{name} cannot be read ({exc.strerror or exc})"
    return None


def export(model_dir: Path, out_dir: Path, int8: bool = False) -> Path:
    """Write ``model.onnx`` (and ``model-int8.onnx`` when ``int8``) plus ``export.json`` into ``out_dir``.

    Files are written to a temporary folder beside ``out_dir`` and moved in with renames, so a
    concurrent or interrupted export never leaves a half-written model behind. A model file
    that fails :func:`verify_model_file` is exported again.
    """
    model_dir = Path(model_dir)
    out_dir = Path(out_dir)
    pipeline = read_pipeline(model_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with _export_lock(out_dir):  # concurrent exports take turns; the second finds the files made
        return _export_locked(model_dir, out_dir, pipeline, int8, started)


@contextmanager
def _export_lock(folder: Path) -> Iterator[None]:
    """An exclusive lock on ``folder`` (flock on the folder itself), released when the process dies."""
    import fcntl

    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _export_locked(model_dir: Path, out_dir: Path, pipeline: dict[str, Any], int8: bool, started: float) -> Path:
    import torch
    from transformers import AutoModel

    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=out_dir))
    try:
        fp32 = out_dir / FP32_FILE
        for name in (FP32_FILE, INT8_FILE):
            if (out_dir / name).is_file() and verify_model_file(out_dir, name) is not None:
                (out_dir / name).unlink()  # damaged or from an older export: made again below
        if not fp32.is_file():
            # Eager attention traces to plain MatMul/Softmax, which ONNX Runtime fuses well.
            model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()
            uses_token_types = getattr(model.config, "type_vocab_size", 0) > 0
            pooling = pipeline["pooling"]

            class SentenceEmbedding(torch.nn.Module):
                def __init__(self) -> None:
                    super().__init__()
                    self.model = model

                def forward(self, input_ids, attention_mask, token_type_ids=None):
                    kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
                    hidden = self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state
                    if pooling == "cls":
                        pooled = hidden[:, 0]
                    else:
                        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
                        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                    return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

            names = ["input_ids", "attention_mask"] + (["token_type_ids"] if uses_token_types else [])
            dummy = tuple(torch.ones(2, 8, dtype=torch.long) if n != "token_type_ids" else torch.zeros(2, 8, dtype=torch.long)
                          for n in names)
            axes = {n: {0: "batch", 1: "tokens"} for n in names} | {"sentence_embedding": {0: "batch"}}
            import warnings

            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    SentenceEmbedding(), dummy, str(tmp / FP32_FILE), input_names=names,
                    output_names=["sentence_embedding"], dynamic_axes=axes, opset_version=17,
                    dynamo=False, external_data=False,
                )
            os.replace(tmp / FP32_FILE, fp32)
        if int8 and not (out_dir / INT8_FILE).is_file():
            from onnxruntime.quantization import QuantType, quantize_dynamic

            # Per-channel MatMul weights in 7 bits (INT8_SCHEME): cosine to fp32 about 0.99 on
            # average, the same on CPUs with and without VNNI. Quantising the embedding tables as
            # well (the default) costs much more quality for little speed.
            quantize_dynamic(str(fp32), str(tmp / INT8_FILE), weight_type=QuantType.QInt8, per_channel=True,
                             reduce_range=True, op_types_to_quantize=["MatMul"],
                             extra_options={"MatMulConstBOnly": True})
            os.replace(tmp / INT8_FILE, out_dir / INT8_FILE)
        meta = {
            "export_version": EXPORT_VERSION,
            "source": str(model_dir),
            "fingerprint": model_fingerprint(model_dir),
            **pipeline,
            "int8_scheme": INT8_SCHEME,
            "files": {name: file_record(out_dir / name) for name in (FP32_FILE, INT8_FILE) if (out_dir / name).is_file()},
            "seconds": round(time.perf_counter() - started, 2),
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        os.replace(tmp / META_FILE, out_dir / META_FILE)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def main(argv: list[str] | None = None) -> int:
    """Command line of the child process started by :func:`rsiqa.index.embedding.ensure_onnx_model`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--int8", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        export(args.model_dir, args.out_dir, args.int8)
    except UnsupportedModel as exc:
        print(f"unsupported: {exc}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
