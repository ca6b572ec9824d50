"""Inventory format v1: models, loading with source positions, and validation."""

from hybridctl.inventory.load import load_inventory
from hybridctl.inventory.models import Cluster, Host
from hybridctl.inventory.problems import Problem, Severity

__all__ = ["Cluster", "Host", "Problem", "Severity", "load_inventory"]
