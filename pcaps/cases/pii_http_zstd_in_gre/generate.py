"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

import zstandard

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import GRE_HOSP, write_here  # noqa: E402
from casegen.normalisation import answer_case  # noqa: E402


def build(name, line):
    return answer_case(name, line, "zstd", zstandard.ZstdCompressor(level=3).compress,
                       "RFC 8878 Zstandard, which Chrome and Firefox accept")


LINE = GRE_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
