"""The ``digits`` trainer: a small supervised CNN on scikit-learn's 8x8 handwritten digits."""
