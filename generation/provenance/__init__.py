"""Provenance: how anyone can tell that Easel made an image (docs/generation.md, "Provenance").

- `marks`: what the worker adds before encoding: the visible signature, PNG text fields and
  the invisible watermark (`watermark`, with its error-correcting code in `convolutional`).
- `credentials`: the signed C2PA manifest added after encoding, and reading one back.
- `certificates`: the development signing certificate for `make run` and the tests.

generation.services.provenance answers "did Easel make this?" from both.
"""
