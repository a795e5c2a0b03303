"""The tiny world: procedurally drawn scenes (scenes), task families that mirror the benchmarks' categories and
the seeded generator (tasks), writers into the real datasets' schemas (writers), and a tiny version of every
training source and benchmark (catalog). Pure functions of their seeds; nothing here imports the rest of brlib.
"""

from brlib.world.tasks import FAMILIES, GENERATORS, VERSION, Example, corpus, generate
from brlib.world.writers import write_world

__all__ = ["FAMILIES", "GENERATORS", "VERSION", "Example", "corpus", "generate", "write_world"]
