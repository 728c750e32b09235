"""Small, complete examples of driving the sans-IO core from your own IO (not installed)."""

__all__: list[str] = []
