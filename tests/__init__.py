"""crossemo tests; ``tests.fixtures`` builds small corpora for them."""
