"""Text screening: normalisation, the public-figure matcher, lexicons and the semantic check."""
