"""Domain types shared by every package: enums, ticks, orders, events, the clock, instruments.

This package is a leaf: it imports nothing else from the project, and every other package may
import it.
"""
