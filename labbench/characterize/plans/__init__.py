"""Shipped campaign plans (package data)."""
