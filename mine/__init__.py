"""The mine: one data owner's daemon, answering Sonar's models with encrypted gradients.

`mine.cli` runs it; `mine.daemon` is its loop; `mine.state` what it remembers across
restarts (SQLite); `mine.config` its settings;
`mine.status` and `mine.structured_log` what it tells operators. It builds on `pysonar`
(the encrypted model, gradient and formats, IPFS) and `sonar` (the contract client).
"""

__version__ = "0.1.0"
