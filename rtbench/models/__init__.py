"""Model code: building blocks, the encoder variants, and the whole detector (docs/design.md)."""
