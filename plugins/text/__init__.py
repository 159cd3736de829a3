"""Built-in caption encoders."""

from benchmark.api import hookimpl


@hookimpl
def register_text_encoders(register):
    register(
        "sentence_transformer",
        "bench_plugins.text.sentence_transformer:SentenceTransformerEncoder",
        description="A sentence-transformers model (default all-MiniLM-L6-v2, 384-d, the report's encoder)",
    )
