"""Model code: blocks of DESIGN.md section 3, the encoder variants, and the whole detector."""
