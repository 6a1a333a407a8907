"""Synthetic Home Credit data: the product's embedded default data set.

``generate(n_clients, seed, out_dir)`` writes the 8 Kaggle files (``application_train.csv`` ...
``credit_card_balance.csv``) in the exact Kaggle schema and text format, so that the pipeline
runs unchanged on them or on the real Kaggle CSVs. Marginals are calibrated on real rows
(``scoring/resources/synth_calibration.json``); a latent risk per client drives TARGET and shows
through the application fields and the history tables. See docs/synthetic_data.md.

CLI: ``python -m scoring.synth --n-clients N --seed S --out DIR [--format csv]``.
"""

from scoring.synth.core import KAGGLE_TEST, KAGGLE_TRAIN, default_n_test, file_name, generate
from scoring.synth.writer import FORMATS

__all__ = [
    "FORMATS",
    "KAGGLE_TEST",
    "KAGGLE_TRAIN",
    "default_n_test",
    "file_name",
    "generate",
]
