"""Demo data: a believable insurer (华诚保险, fictitious) with a year of complaints.

* `company` builds the organisation (`ensure_org()`: head office, three branches with sub-branches and
  functional departments, staff in every role with a known password); the benchmarks reuse it.
* `texts` holds what the complaints say; `plans` plans a year of them before anything is written.
* `scenario` plays one complaint's story through `kesu.cases.walk.Walk`, so through `perform`.
* `load` (`load_demo_cases()`) registers the planned complaints with `register_case` and plays each
  story, both with `now=` in the past, so every timeline is true: the status, the events and their
  times agree.
"""

from kesu.cases.demo.texts import (
    CATEGORY_TEXTS,  # the duel's seed script (../shared/tools/duel) reads it here
)

__all__ = ["CATEGORY_TEXTS"]
