"""The release number, read by the build backend (pyproject's dynamic version) and by
`cogdex.__version__`: one place, and no importlib.metadata lookup (~10-50 ms) at run time."""

__version__ = "0.1.0"


__all__ = [
    "__version__",
]
