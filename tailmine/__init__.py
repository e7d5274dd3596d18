"""tailmine: turn raw crawl and book dumps into a training mixture that buys the long tail on purpose."""

__version__ = "0.1.0"
