"""Tests of the latent models (crossemo.models)."""
