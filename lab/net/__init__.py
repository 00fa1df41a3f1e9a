"""Addresses and ports of a lab on this machine's loopback network."""
