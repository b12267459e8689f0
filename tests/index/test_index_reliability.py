"""An index survives what kills or breaks a write, and says which file when it cannot.

A writer killed between the two renames of a folder swap, temporaries of killed writes,
names with control characters, corrupted pages, full disks and unwritable folders.
"""

from __future__ import annotations

import pytest

from cogdex.errors import BuildError
from cogdex.index.cache import check_name


@pytest.mark.parametrize("name", ["abc\n", "abc\r\n", "a\tb", "ab\x00", "\nabc", "abc\x1b"])
def test_a_name_with_a_control_character_is_refused(name):
    with pytest.raises(BuildError, match="must be 1-128"):
        check_name(name)
