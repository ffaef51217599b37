"""Machine-learning side of the daemon: features, labels, models and offline training.

Only `model.features` (its incremental form) and `model.live` are on the live path; both are
pure Python (no numpy, no scikit-learn). `model.labeling` uses the future by definition and
must never be imported from `trading_engine/` (a test scans the imports).
"""
