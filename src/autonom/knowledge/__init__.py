"""Company knowledge: ingesting documents, retrieval, grounded answers, hygiene.

The sample corpus of a fictional German manufacturer lives in ``sample/``.
"""

from pathlib import Path

SAMPLE_DIR = Path(__file__).with_name("sample")
