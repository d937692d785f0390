"""The domain: pure rules of complaints (lifecycle, references, residents' commands,
privacy, time). Imports nothing of storage or channels."""
