"""reprolab: faithful, tested implementations of published ML methods with reproductions of their claims."""

__version__ = "0.1.0"
