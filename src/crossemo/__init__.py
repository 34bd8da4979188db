"""crossemo: cross-lingual speech emotion recognition with latent representations."""

__version__ = "0.1.0"
