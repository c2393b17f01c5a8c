"""Benchmarks of the exchange hub: QR size, offline verification, HTTP load and issuance (`python -m bench`)."""
