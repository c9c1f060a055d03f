"""Fault injection for the chaos drills: a TCP proxy that partitions and delays."""
