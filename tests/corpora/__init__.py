"""Tests of the corpus readers (crossemo.corpora)."""
