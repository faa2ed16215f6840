"""rsiqa: cited question answering over the debate on recursive self-improvement."""

__version__ = "0.1.0"
