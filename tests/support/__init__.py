"""Test-only code the test files share: sample marts, the reference reconciliation, builders and
fixtures (tests/conftest.py exposes the fixtures). Nothing in the product imports it."""
