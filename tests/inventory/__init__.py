"""Unit tests of inventory loading and validation."""
