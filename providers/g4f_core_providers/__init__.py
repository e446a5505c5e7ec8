"""Providers that ship with g4f-core; each is found only through the entry-point group."""
