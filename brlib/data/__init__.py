"""Data: the canonical `Pair` (pair), media beyond still images (media: `Media` responses, clips, audio), the
collator and its drop-and-count filter (collate), one adapter module per family of training sets behind the
`SOURCES` registry (sources/), and the declarative mixture (mixture).

Nothing here knows about benchmarks or profiles: `brlib.bench` and `brlib.experiments` build on this package.
"""

from brlib.data.collate import PairCollator
from brlib.data.media import Media
from brlib.data.pair import DropReport, Pair, SchemaError, open_image, split_pairs, video_frames

__all__ = ["DropReport", "Media", "Pair", "PairCollator", "SchemaError", "open_image", "split_pairs", "video_frames"]
