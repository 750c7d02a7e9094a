"""One feature's entry in the dictionary: what it means and how to say it to a case manager.

Kept apart from ``features.dictionary`` so that the readmission and member dictionaries can
both import it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    definition: str
    window: str
    source: str
    unit: str
    template: str
    template_zero: str | None = None
    template_missing: str | None = None
    role: str = "feature"  # "feature" or "subgroup" (reporting only, never a model input)

    def reason(self, value: float | None) -> str:
        """Plain-language reason for one value of this feature."""
        if value is None or value != value:  # NaN
            return self.template_missing or f"no {self.name.replace('_', ' ')} on record"
        if value == 0 and self.template_zero is not None:
            return self.template_zero
        return self.template.format(value=value)
